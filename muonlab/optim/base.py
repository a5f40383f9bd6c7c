"""Shared machinery of the matrix optimizers (SPEC section 1, docs/architecture.md).

``MatrixOptimizer`` owns what every Muon-family method has in common: the parameter
shape contract (``(m, n)``, or ``(S, m, n)`` with ``batched=True``), the momentum update
with its ``momentum_hook``, the closure protocol and the per-step statistics. Subclasses
implement ``_step_group`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor

from .stats import StatsMixin, StepStats
from .validation import check_bool, check_hook, check_int, check_nonnegative, check_positive

MomentumHook = Callable[[Tensor, Tensor, int], None]


class MatrixOptimizer(StatsMixin, torch.optim.Optimizer):
    """Base class: validates shapes, calls the momentum hook, gathers statistics.

    A matrix optimizer does not support complex or sparse gradients, and never modifies
    ``p.grad``.
    """

    name: ClassVar[str] = "matrix"
    # AMUSE keeps non-matrix parameters (Adam-style fallback); the others reject them.
    accepts_non_matrix: ClassVar[bool] = False

    def __init__(
        self,
        params: Iterable[Any],
        defaults: dict[str, Any],
        *,
        batched: bool,
        momentum_hook: MomentumHook | None,
    ) -> None:
        check_bool(self.name, "batched", batched)
        check_hook(self.name, momentum_hook)
        # Set before Optimizer.__init__, which calls add_param_group (shape checks).
        self.batched = batched
        self.momentum_hook = momentum_hook
        self._num_params = 0
        self._batch_size: int | None = None
        self._last_stats: dict[str, Tensor] = {}
        super().__init__(params, defaults)

    # -- shape contract -------------------------------------------------------------
    def is_matrix(self, p: Tensor) -> bool:
        """True for the parameters the matrix rule applies to: ``(m, n)`` or ``(S, m, n)``."""
        return p.ndim == (3 if self.batched else 2)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            self._check_param(p, self._num_params)
            self._num_params += 1

    def _check_param(self, p: Tensor, index: int) -> None:
        shape = tuple(p.shape)
        expected = "(S, m, n) (batched=True)" if self.batched else "2-D (m, n)"
        # AMUSE's fallback takes lower-rank tensors only: a stray 3-D parameter without
        # batched=True is a mistake, not a fallback parameter.
        lower_rank = p.ndim < (3 if self.batched else 2)
        if not self.is_matrix(p) and not (self.accepts_non_matrix and lower_rank):
            raise ValueError(
                f"optimizer '{self.name}': parameter {index} has shape {shape}, expected {expected}; "
                "route other parameters with muonlab.optim.hybrid(...)"
            )
        if self.batched:
            if self._batch_size is None:
                self._batch_size = shape[0]
            elif shape[0] != self._batch_size:
                raise ValueError(
                    f"optimizer '{self.name}': parameter {index} has shape {shape}, expected leading "
                    f"batch size S={self._batch_size} like the other parameters"
                )

    # -- pieces used by the subclasses ------------------------------------------------
    def momentum_step(self, p: Tensor, G: Tensor, M: Tensor, beta: float, nesterov: bool, t: int) -> Tensor:
        """``M <- beta M + (1 - beta) G``; hook; ``U = G + beta (M - G)`` if nesterov else ``M``."""
        M.lerp_(G, 1.0 - beta)
        if self.momentum_hook is not None:
            # After the momentum update, before orthogonalisation (eq. T-45 injection site).
            self.momentum_hook(p, M, t)
        return G.lerp(M, beta) if nesterov else M

    def new_stats(self) -> StepStats:
        return StepStats(batch_ndim=1 if self.batched else 0)

    @staticmethod
    def params_with_grad(group: dict[str, Any]) -> list[Tensor]:
        return [p for p in group["params"] if p.grad is not None]

    # -- torch.optim protocol ---------------------------------------------------------
    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One optimisation step over every group; returns the closure's loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        stats = self.new_stats()
        for group in self.param_groups:
            self._step_group(group, stats)
        self.set_pending_stats(stats)
        return loss

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        raise NotImplementedError

    def train(self) -> None:
        """No-op (only the schedule-free methods swap parameters)."""

    def eval(self) -> None:
        """No-op (only the schedule-free methods swap parameters)."""


def decay_weights(p: Tensor, lr: float, weight_decay: float) -> None:
    """Decoupled weight decay ``W <- (1 - lr wd) W`` in place. A factor of exactly 1 (``wd
    = 0``) leaves every float unchanged, so that pass over the weights is skipped."""
    factor = 1.0 - lr * weight_decay
    if factor != 1.0:
        p.mul_(factor)


def validate_common(name: str, *, lr: float, weight_decay: float, ns_steps: int | None = None) -> None:
    """Checks shared by the Muon family: ``lr > 0``, ``weight_decay >= 0``, ``ns_steps >= 1``."""
    check_positive(name, "lr", lr)
    check_nonnegative(name, "weight_decay", weight_decay)
    if ns_steps is not None:
        check_int(name, "ns_steps", ns_steps, 1)
