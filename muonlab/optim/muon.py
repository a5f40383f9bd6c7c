"""Muon (SPEC-optim muon; public reference ``torch.optim.Muon``, KellerJordan/Muon)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .base import MatrixOptimizer, MomentumHook, decay_weights, validate_common
from .scaling import ADJUST_LR, muon_scale
from .stats import StepStats
from .validation import check_bool, check_choice, check_coefficient, ns_dtype_of
from .zeropower import zeropower


class Muon(MatrixOptimizer):
    r"""Muon: momentum, orthogonalised by NS5, shape-scaled.

    Per matrix ``W`` (m x n), gradient ``G``, step ``t``::

        M <- beta M + (1 - beta) G                  ; momentum_hook(W, M, t)
        U = G + beta (M - G)   if nesterov else M
        O = NS5(U)
        W <- W (1 - lr wd) - lr scale O
        scale = sqrt(max(1, m/n))        (adjust_lr="original")
              = 0.2 sqrt(max(m, n))      (adjust_lr="match_rms_adamw")

    With ``ns_dtype=torch.bfloat16`` it reproduces ``torch.optim.Muon`` step for step.

    Args:
        params: 2-D parameters (or ``(S, m, n)`` with ``batched=True``) or param groups.
        lr: learning rate, > 0 (default 0.02).
        momentum: ``beta``, in [0, 1) (default 0.95).
        nesterov: Nesterov blend of gradient and momentum (default True).
        weight_decay: decoupled decay ``wd`` >= 0, uses the unscaled lr (default 0).
        ns_steps: Newton-Schulz iterations, >= 1 (default 5).
        ns_dtype: NS arithmetic, ``torch.float32`` or ``torch.bfloat16`` (default float32).
        adjust_lr: ``"original"`` or ``"match_rms_adamw"`` (default "original").
        batched: treat ``(S, m, n)`` parameters as S independent matrices (default False).
        momentum_hook: ``hook(param, M, step)`` called after the momentum update, may
            modify ``M`` in place (default None).

    Stats: ``update_rms``, ``update_fro`` of the step term ``lr scale O`` (decay excluded).
    """

    name = "muon"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | str = torch.float32,
        adjust_lr: str = "original",
        batched: bool = False,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        validate_common(self.name, lr=lr, weight_decay=weight_decay, ns_steps=ns_steps)
        check_coefficient(self.name, "momentum", momentum)
        check_bool(self.name, "nesterov", nesterov)
        check_choice(self.name, "adjust_lr", adjust_lr, ADJUST_LR)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype_of(self.name, ns_dtype),
            adjust_lr=adjust_lr,
        )
        super().__init__(params, defaults, batched=batched, momentum_hook=momentum_hook)

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        lr, wd = group["lr"], group["weight_decay"]
        for p in self.params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["momentum_buffer"] = torch.zeros_like(p)
            state["step"] += 1
            U = self.momentum_step(p, p.grad, state["momentum_buffer"], group["momentum"], group["nesterov"], state["step"])
            O = zeropower(U, group["ns_steps"], dtype=group["ns_dtype"])
            step_size = lr * muon_scale(p.shape[-2], p.shape[-1], group["adjust_lr"])
            decay_weights(p, lr, wd)
            p.add_(O, alpha=-step_size)
            stats.add_update(O, step_size)
