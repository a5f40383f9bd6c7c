"""RMNP: row-normalised momentum (SPEC-optim rmnp; RMNP Algorithm 2, reference
Dominator-Index/RMNP ``rmnp/rmnp.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .base import MatrixOptimizer, MomentumHook, decay_weights, validate_common
from .row_norm import row_normalize
from .scaling import muon_scale
from .stats import StepStats
from .validation import check_bool, check_coefficient


class RMNP(MatrixOptimizer):
    r"""RMNP: Muon with NS5 replaced by row normalisation (O(mn) instead of O(mn min(m,n))).

    Per matrix ``W`` (m x n)::

        M <- beta M + (1 - beta) G                  ; momentum_hook(W, M, t)
        U = G + beta (M - G)   if nesterov else M
        D = U / max(||U_row||_2, 1e-12)             (row-wise, rows = outputs)
        W <- W (1 - lr wd) - lr sqrt(max(1, m/n)) D

    (The paper's appendix writes sqrt(n/m); all its code uses sqrt(m/n), followed here.)

    Args:
        params: 2-D parameters (or ``(S, m, n)`` with ``batched=True``) or param groups.
        lr: > 0 (default 0.02).  momentum: ``beta`` in [0, 1) (default 0.95).
        nesterov: default True.  weight_decay: decoupled, >= 0 (default 0).
        batched, momentum_hook: as in :class:`Muon`.

    Stats: ``update_rms``, ``update_fro`` of the step term (decay excluded).
    """

    name = "rmnp"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        batched: bool = False,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        validate_common(self.name, lr=lr, weight_decay=weight_decay)
        check_coefficient(self.name, "momentum", momentum)
        check_bool(self.name, "nesterov", nesterov)
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults, batched=batched, momentum_hook=momentum_hook)

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        lr = group["lr"]
        for p in self.params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["momentum_buffer"] = torch.zeros_like(p)
            state["step"] += 1
            U = self.momentum_step(p, p.grad, state["momentum_buffer"], group["momentum"], group["nesterov"], state["step"])
            D = row_normalize(U)
            step_size = lr * muon_scale(p.shape[-2], p.shape[-1], "original")
            decay_weights(p, lr, group["weight_decay"])
            p.add_(D, alpha=-step_size)
            stats.add_update(D, step_size)
