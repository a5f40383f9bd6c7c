"""AMUSE and SF-Muon (SPEC-optim sf-muon and amuse; reference kjeiun/amuse
``src/optim/AMUSE.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .base import MatrixOptimizer, MomentumHook, validate_common
from .scaling import ADJUST_LR, muon_scale
from .schedule_free import averaging_weight, average_into, interpolate, interpolation_beta, warmup_lr
from .stats import StepStats
from .validation import check_bool, check_choice, check_coefficient, check_int, check_interval, check_positive, ns_dtype_of
from .zeropower import zeropower


class AMUSE(MatrixOptimizer):
    r"""AMUSE: schedule-free Muon with an annealed interpolation ``beta_t``.

    Sequences ``z`` (base), ``x`` (average, evaluated) and ``y`` (gradients are taken
    there). The parameter holds ``y`` in train mode and ``x`` in eval mode; ``train()`` /
    ``eval()`` switch it, as in the ``schedulefree`` package. The optimizer starts in
    train mode. Per step ``t``::

        lr_t = lr min(1, t / T0)
        w_t = lr_t^2 ; c_t = w_t / sum_{i<=t} w_i
        beta_t = beta1                                  if t <= T0
               = 1 - S_t^rho (1 - beta1)                if t > T0,
                 S_t = c_t (1 - c_T0) / (c_T0 (1 - c_t))
        M <- mu M + (1 - mu) G(y)                       ; momentum_hook(y, M, t)
        U = G + mu (M - G)   if nesterov else M
        O = NS5(U) * 0.2 sqrt(max(m, n))                (adjust_lr="match_rms_adamw")
        z <- z (1 - lr_t wd) - lr_t O
        x <- (1 - c_t) x + c_t z
        y <- (1 - beta_t) z + beta_t x

    ``x`` is stored exactly (the official code recovers it from ``y`` with the new
    ``beta_t``). Non-matrix parameters (ndim != 2, or != 3 when batched) take the
    reference's Adam-style z step instead of ``-lr_t O``::

        v <- beta2 v + (1 - beta2) G^2 ;  z <- z (1 - lr_t wd) - lr_t G / (sqrt(v / (1 - beta2^t)) + eps)

    ``sf-muon`` is this optimizer with ``rho = 0`` (constant ``beta_t = beta1``).

    Args:
        params: matrices (``(S, m, n)`` with ``batched=True``) and optionally other
            parameters (Adam-style fallback; prefer ``hybrid`` to give those their own lr).
        lr: peak learning rate, > 0 (default 0.02).
        momentum: ``mu`` in [0, 1) (default 0.95).  nesterov: default True.
        beta1: initial interpolation ``beta``, in [0, 1) (default 0.9).
        rho: annealing power, in [0, 1] (default 1.0).
        T0: warm-up steps of lr and beta, >= 1 (default 100).
        weight_decay: decoupled on z, >= 0 (default 0).
        ns_steps: >= 1 (default 5).  ns_dtype: float32 (default) or bfloat16.
        adjust_lr: shape scale of O (default "match_rms_adamw", as the reference).
        beta2: fallback second-moment coefficient, in [0, 1) (default 0.999, reference).
        eps: fallback denominator term, > 0 (default 1e-10, reference).
        batched, momentum_hook: as in :class:`Muon`.

    Stats: ``beta_t``, ``c_t``, ``update_rms``, ``update_fro`` of the change in y.
    """

    name = "amuse"
    accepts_non_matrix = True

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        beta1: float = 0.9,
        rho: float = 1.0,
        T0: int = 100,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | str = torch.float32,
        adjust_lr: str = "match_rms_adamw",
        beta2: float = 0.999,
        eps: float = 1e-10,
        batched: bool = False,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        validate_common(self.name, lr=lr, weight_decay=weight_decay, ns_steps=ns_steps)
        check_coefficient(self.name, "momentum", momentum)
        check_bool(self.name, "nesterov", nesterov)
        check_coefficient(self.name, "beta1", beta1)
        check_interval(self.name, "rho", rho, 0.0, 1.0)
        check_int(self.name, "T0", T0, 1)
        check_choice(self.name, "adjust_lr", adjust_lr, ADJUST_LR)
        check_coefficient(self.name, "beta2", beta2)
        check_positive(self.name, "eps", eps)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            beta1=beta1,
            rho=rho,
            T0=T0,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype_of(self.name, ns_dtype),
            adjust_lr=adjust_lr,
            beta2=beta2,
            eps=eps,
            train_mode=True,
        )
        super().__init__(params, defaults, batched=batched, momentum_hook=momentum_hook)

    # -- train / eval: the parameter holds y (train) or x (eval) -------------------------
    @torch.no_grad()
    def eval(self) -> None:
        """Put ``x`` into the parameters (keeping ``y`` to restore it exactly)."""
        for group in self.param_groups:
            if group["train_mode"]:
                for p in group["params"]:
                    state = self.state[p]
                    if "x" in state:
                        state["y"] = p.detach().clone()
                        p.copy_(state["x"])
                group["train_mode"] = False

    @torch.no_grad()
    def train(self) -> None:
        """Put ``y`` back into the parameters."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for p in group["params"]:
                    state = self.state[p]
                    if "y" in state:
                        p.copy_(state.pop("y"))
                group["train_mode"] = True

    # -- step ----------------------------------------------------------------------------
    def _schedule(self, group: dict[str, Any], state: dict[str, Any]) -> tuple[int, float, float, float]:
        """Advance the scalar schedule of one parameter: ``(t, lr_t, c_t, beta_t)``."""
        state["step"] += 1
        t, T0 = state["step"], group["T0"]
        lr_t = warmup_lr(group["lr"], t, T0)
        c_t, state["weight_sum"] = averaging_weight(lr_t, state["weight_sum"])
        if t == T0:
            state["c_T0"] = c_t
        beta_t = interpolation_beta(t, T0, beta1=group["beta1"], rho=group["rho"], c_t=c_t, c_T0=state["c_T0"])
        return t, lr_t, c_t, beta_t

    def _direction(self, p: Tensor, group: dict[str, Any], state: dict[str, Any], t: int) -> Tensor:
        """The z-step direction: scaled NS5 of Nesterov momentum for matrices, the
        reference's Adam-style normalised gradient otherwise."""
        G = p.grad
        if self.is_matrix(p):
            U = self.momentum_step(p, G, state["momentum_buffer"], group["momentum"], group["nesterov"], t)
            O = zeropower(U, group["ns_steps"], dtype=group["ns_dtype"]).to(p.dtype)
            return O * muon_scale(p.shape[-2], p.shape[-1], group["adjust_lr"])
        beta2 = group["beta2"]
        v = state["exp_avg_sq"]
        v.mul_(beta2).addcmul_(G, G, value=1.0 - beta2)
        return G / ((v / (1.0 - beta2**t)).sqrt() + group["eps"])

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        if not group["train_mode"]:
            raise RuntimeError(f"optimizer '{self.name}': step() called in eval mode; call optimizer.train() first")
        for p in self.params_with_grad(group):
            state = self.state[p]
            if not state:
                state.update(step=0, weight_sum=0.0, c_T0=1.0, z=p.detach().clone(), x=p.detach().clone())
                buffer = "momentum_buffer" if self.is_matrix(p) else "exp_avg_sq"
                state[buffer] = torch.zeros_like(p)
            t, lr_t, c_t, beta_t = self._schedule(group, state)
            direction = self._direction(p, group, state, t)
            z, x = state["z"], state["x"]
            z.mul_(1.0 - lr_t * group["weight_decay"]).add_(direction, alpha=-lr_t)
            average_into(x, z, c_t)
            y = interpolate(z, x, beta_t)
            stats.add_update(y - p)
            p.copy_(y)
            batch = p.shape[:1] if self.batched else ()
            stats.set("beta_t", torch.full(batch, beta_t, device=p.device))
            stats.set("c_t", torch.full(batch, c_t, device=p.device))
