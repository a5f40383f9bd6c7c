"""Baselines (SPEC-optim baselines): ``torch.optim.SGD``, ``torch.optim.AdamW`` and the
``schedulefree`` package's ``AdamWScheduleFree``, subclassed only to add the uniform
interface of ``build``: ``last_stats()`` / ``last_stats_tensors()`` (``update_rms`` and
``update_fro`` of the actual parameter change), ``train()`` / ``eval()`` and validation."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import schedulefree
import torch
from torch import Tensor

from .stats import StatsMixin, StepStats
from .validation import check_bool, check_coefficient, check_int, check_nonnegative, check_positive, fail


def _check_betas(name: str, betas: Any) -> None:
    if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
        fail(name, "betas", "a pair (beta1, beta2) with entries in [0, 1)", betas)
    check_coefficient(name, "betas[0]", betas[0])
    check_coefficient(name, "betas[1]", betas[1])


class ParamChangeStats(StatsMixin):
    """Wraps ``step`` to record the change of the parameters.

    Each parameter's value before the step is copied into a buffer kept across steps
    (one fused ``_foreach_copy_``, no allocation), and the buffer becomes
    ``before - after`` (one fused ``_foreach_sub_``): the negated change, whose squares
    are the change's squares bit for bit. The reductions run when the statistics are read.
    With statistics turned off (:meth:`~muonlab.optim.stats.StatsMixin.want_stats`, the
    run loop's unlogged steps) the step is the parent's alone: no copy, no subtraction.

    ``stats_batch_ndim`` (default 0) leading axes of every parameter are kept in the
    statistics, e.g. 1 for a seed ensemble's stacked ``(S, ...)`` parameters (SPEC 8):
    then ``update_rms`` / ``update_fro`` have shape ``(S,)`` and never mix slices. It is
    an attribute, not a hyperparameter: the update itself is elementwise either way.
    """

    param_groups: list[dict[str, Any]]
    stats_batch_ndim: int = 0
    _change_buffers: dict[Tensor, Tensor]

    def _buffers_for(self, params: list[Tensor]) -> list[Tensor]:
        """One buffer per parameter, made once; the list is reused while ``params`` is."""
        key = tuple(map(id, params))
        cached = getattr(self, "_change_list", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        if not hasattr(self, "_change_buffers"):
            self._change_buffers = {}
        buffers = self._change_buffers
        for p in params:
            if p not in buffers:
                buffers[p] = torch.empty_like(p, memory_format=torch.preserve_format)
        self._change_list = (key, [buffers[p] for p in params])
        return self._change_list[1]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            # Evaluate first: which parameters have gradients is known only afterwards.
            with torch.enable_grad():
                loss = closure()
        parent_step = super().step  # type: ignore[misc]
        if getattr(parent_step, "hooked", False):
            # torch.optim wraps the step of every class it instantiates with its profiler
            # record and step hooks; this class's step is wrapped already, so the parent's
            # own step runs unwrapped (hooks once per step; the wrapper costs as much as
            # a small model's step).
            parent_step = parent_step.__wrapped__.__get__(self)
        if not self.stats_wanted:
            parent_step()
            self.set_pending_stats(None)
            return loss
        params = [p for g in self.param_groups for p in g["params"] if p.grad is not None]
        change = self._buffers_for(params)
        if params:
            torch._foreach_copy_(change, params)
        parent_step()
        stats = StepStats(self.stats_batch_ndim)
        if params:
            torch._foreach_sub_(change, params)
        for c in change:
            stats.add_update(c)
        self.set_pending_stats(stats)
        return loss


class SGD(ParamChangeStats, torch.optim.SGD):
    """``torch.optim.SGD`` (SPEC-optim baselines).

    Args: lr > 0 (default 1e-2), momentum in [0, 1) (default 0.9), dampening in [0, 1)
    (default 0), weight_decay >= 0 (default 0, coupled L2 as in torch), nesterov (default
    False). Stats: ``update_rms``, ``update_fro`` of the parameter change.
    """

    name = "sgd"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 1e-2,
        momentum: float = 0.9,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        check_positive(self.name, "lr", lr)
        check_coefficient(self.name, "momentum", momentum)
        check_coefficient(self.name, "dampening", dampening)
        check_nonnegative(self.name, "weight_decay", weight_decay)
        check_bool(self.name, "nesterov", nesterov)
        super().__init__(params, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)

    def train(self) -> None:
        """No-op (uniform interface)."""

    def eval(self) -> None:
        """No-op (uniform interface)."""


class AdamW(ParamChangeStats, torch.optim.AdamW):
    """``torch.optim.AdamW`` (SPEC-optim baselines).

    Args: lr > 0 (default 1e-3), betas in [0, 1)^2 (default (0.9, 0.999)), eps > 0
    (default 1e-8), weight_decay >= 0 (default 0, decoupled), amsgrad (default False).
    Stats: ``update_rms``, ``update_fro`` of the parameter change.
    """

    name = "adamw"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        check_positive(self.name, "lr", lr)
        _check_betas(self.name, betas)
        check_positive(self.name, "eps", eps)
        check_nonnegative(self.name, "weight_decay", weight_decay)
        check_bool(self.name, "amsgrad", amsgrad)
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)

    def train(self) -> None:
        """No-op (uniform interface)."""

    def eval(self) -> None:
        """No-op (uniform interface)."""


class ScheduleFreeAdamW(ParamChangeStats, schedulefree.AdamWScheduleFree):
    """``schedulefree.AdamWScheduleFree`` (SPEC-optim ``sf-adamw``), the package's code.

    The parameter holds ``y`` in train mode and ``x`` in eval mode; ``train()`` /
    ``eval()`` are the package's. Unlike the package this wrapper starts in train mode,
    so it drops into a plain training loop.

    Args (package defaults): lr > 0 (default 0.0025), betas in [0, 1)^2 (default
    (0.9, 0.999)), eps > 0 (default 1e-8), weight_decay >= 0 (default 0), warmup_steps
    >= 0 (default 0), r >= 0 (default 0), weight_lr_power >= 0 (default 2).
    Stats: ``update_rms``, ``update_fro`` of the change in y.
    """

    name = "sf-adamw"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
    ) -> None:
        check_positive(self.name, "lr", lr)
        _check_betas(self.name, betas)
        check_positive(self.name, "eps", eps)
        check_nonnegative(self.name, "weight_decay", weight_decay)
        check_int(self.name, "warmup_steps", warmup_steps, 0)
        check_nonnegative(self.name, "r", r)
        check_nonnegative(self.name, "weight_lr_power", weight_lr_power)
        super().__init__(
            params,
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            r=r,
            weight_lr_power=weight_lr_power,
        )
        self.train()


BASELINES: dict[str, type] = {"sgd": SGD, "adamw": AdamW, "sf-adamw": ScheduleFreeAdamW}
