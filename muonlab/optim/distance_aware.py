"""Shared pieces of the distance-aware Muon family (SPEC-optim da-muon, sc-muon, df-muon;
no public code: every rule here is [proposal], implemented as SPEC-optim writes it).

Geometry: for a group of matrices ``W_i`` with Muon scales ``s_i = sqrt(max(1, m_i/n_i))``
the distance is ``D(W, W') = max_i ||W_i - W'_i||_2 / s_i`` and its dual norm is
``||G||_* = sum_i s_i ||G_i||_nuc``; the update direction ``s_i O_i`` has norm ~1 in
``D``, so ``<G, s O> / ||G||_*`` lies in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from .base import MatrixOptimizer, MomentumHook
from .scaling import muon_scale
from .stats import StepStats
from .validation import check_bool, check_coefficient, check_int, check_nonnegative, check_positive, ns_dtype_of
from .zeropower import zeropower

EXACT_SPECTRAL_MAX = 512
POWER_ITERATIONS = 30
POWER_SEED = 0


def spectral_norm(X: Tensor) -> Tensor:
    """``||X||_2``: exact (SVD) when ``min(m, n) <= 512``, else power iteration on
    ``X^T X`` from a fixed-seed start vector (deterministic)."""
    if min(X.shape[-2:]) <= EXACT_SPECTRAL_MAX:
        return torch.linalg.matrix_norm(X, ord=2)
    generator = torch.Generator().manual_seed(POWER_SEED)
    v = torch.randn(X.shape[-1], generator=generator, dtype=X.dtype).to(X.device)
    for _ in range(POWER_ITERATIONS):
        v = X.mT @ (X @ v)
        v = v / v.norm().clamp_min(torch.finfo(X.dtype).tiny)
    return (X @ v).norm()


def distance(W: Sequence[Tensor], W_ref: Sequence[Tensor], scales: Sequence[float]) -> Tensor:
    """``D(W, W') = max_i ||W_i - W'_i||_2 / s_i`` (0-d tensor)."""
    return torch.stack([spectral_norm(a - b) / s for a, b, s in zip(W, W_ref, scales)]).amax()


def dual_norm(G: Sequence[Tensor], scales: Sequence[float]) -> Tensor:
    """``||G||_* = sum_i s_i ||G_i||_nuc`` (0-d tensor)."""
    return torch.stack([s * torch.linalg.matrix_norm(g, ord="nuc") for g, s in zip(G, scales)]).sum()


def pairing(G: Sequence[Tensor], O: Sequence[Tensor], scales: Sequence[float]) -> Tensor:
    """``<G, s O> = sum_i s_i <G_i, O_i>`` (0-d tensor)."""
    return torch.stack([s * torch.sum(g * o) for g, o, s in zip(G, O, scales)]).sum()


def safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator``, 0 where the denominator is 0 (zero gradients)."""
    positive = denominator > 0
    return torch.where(positive, numerator / torch.where(positive, denominator, torch.ones_like(denominator)), torch.zeros_like(numerator))


class DistanceAwareMuon(MatrixOptimizer):
    """Base: Muon direction (Nesterov momentum + NS5), one step size ``eta_t`` (a 0-d
    tensor, no host sync) per group, update ``W <- (1 - eta_t wd) W - eta_t s O``.

    Group-level state lives in the state of the group's first parameter under keys
    starting with ``group_``, so ``state_dict()`` carries it.
    """

    def __init__(
        self,
        params: Iterable[Any],
        defaults: dict[str, Any] | None = None,
        *,
        eta_max: float = 0.03,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | str = torch.float32,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        check_positive(self.name, "eta_max", eta_max)
        check_coefficient(self.name, "momentum", momentum)
        check_bool(self.name, "nesterov", nesterov)
        check_nonnegative(self.name, "weight_decay", weight_decay)
        check_int(self.name, "ns_steps", ns_steps, 1)
        defaults = dict(
            defaults or {},
            eta_max=eta_max,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype_of(self.name, ns_dtype),
        )
        # The distance-aware rules couple all matrices of a group: no batched mode.
        super().__init__(params, defaults, batched=False, momentum_hook=momentum_hook)

    def _init_param_state(self, p: Tensor, state: dict[str, Any]) -> None:
        """Per-parameter state beyond the momentum buffer (e.g. a copy of ``W_0``)."""

    def _step_size(
        self,
        group: dict[str, Any],
        gstate: dict[str, Any],
        params: list[Tensor],
        O: list[Tensor],
        scales: list[float],
        t: int,
        stats: StepStats,
    ) -> Tensor:
        """``eta_t`` (0-d tensor) from the pre-update parameters; records its statistics."""
        raise NotImplementedError

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        params = self.params_with_grad(group)
        if not params:
            return
        gstate = self.state[group["params"][0]]
        gstate["group_step"] = gstate.get("group_step", 0) + 1
        t = gstate["group_step"]
        O: list[Tensor] = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
                self._init_param_state(p, state)
            U = self.momentum_step(p, p.grad, state["momentum_buffer"], group["momentum"], group["nesterov"], t)
            O.append(zeropower(U, group["ns_steps"], dtype=group["ns_dtype"]).to(p.dtype))
        scales = [muon_scale(p.shape[-2], p.shape[-1], "original") for p in params]
        eta = self._step_size(group, gstate, params, O, scales, t, stats)
        decay = 1.0 - eta * group["weight_decay"]
        for p, o, s in zip(params, O, scales):
            p.mul_(decay).sub_(o * (eta * s))
            stats.add_update(o, eta * s)
        stats.set("eta_t", eta)

