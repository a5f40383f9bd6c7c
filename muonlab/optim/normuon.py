"""NorMuon (SPEC-optim normuon; reference zichongli5/NorMuon, arXiv 2510.05491)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .base import MatrixOptimizer, MomentumHook, decay_weights, validate_common
from .row_norm import row_mean_square, row_rescale
from .stats import StepStats
from .validation import check_bool, check_coefficient, check_positive, ns_dtype_of
from .zeropower import zeropower


def calibrated_step(O_hat: Tensor, lr: float, eps: float | Tensor) -> Tensor:
    """``lr sqrt(m n) / (||O_hat||_F + eps)`` per matrix: makes the update RMS equal ``lr``."""
    m, n = O_hat.shape[-2:]
    return lr * math.sqrt(m * n) / (O_hat.norm(dim=(-2, -1)) + eps)


class NorMuon(MatrixOptimizer):
    r"""NorMuon: Muon with a row-wise second moment of the orthogonalised update.

    Per matrix ``W`` (m x n)::

        M <- beta1 M + (1 - beta1) G                ; momentum_hook(W, M, t)
        O = NS5(G + beta1 (M - G)) if nesterov else NS5(M)
        v <- beta2 v + (1 - beta2) mean_j O[:, j]^2    (m entries, init 0)
        O_hat = diag((v + eps)^-1/2) O
        eta_hat = rms_scale lr sqrt(m n) / (||O_hat||_F + eps)
        W <- W (1 - lr wd) - eta_hat O_hat

    With ``rms_scale=1`` the update RMS equals ``lr`` (TrasMuon's calibration).

    Args:
        params: 2-D parameters (or ``(S, m, n)`` with ``batched=True``) or param groups.
        lr: learning rate, > 0 (default 0.02, the reference's).
        beta1: momentum coefficient, in [0, 1) (default 0.95).
        beta2: row second-moment coefficient, in [0, 1) (default 0.95).
        eps: > 0 (default 1e-8).
        rms_scale: > 0, update RMS as a multiple of lr (default 0.2, the paper's).
        nesterov: default False (as in the paper).
        weight_decay: decoupled, >= 0 (default 0).
        ns_steps: >= 1 (default 5).  ns_dtype: float32 (default) or bfloat16.
        batched, momentum_hook: as in :class:`Muon`.

    Stats: ``update_rms``, ``update_fro`` (step term, decay excluded), ``eta_hat``
    (mean over matrices).
    """

    name = "normuon"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 0.02,
        beta1: float = 0.95,
        beta2: float = 0.95,
        eps: float = 1e-8,
        rms_scale: float = 0.2,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | str = torch.float32,
        batched: bool = False,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        validate_common(self.name, lr=lr, weight_decay=weight_decay, ns_steps=ns_steps)
        check_coefficient(self.name, "beta1", beta1)
        check_coefficient(self.name, "beta2", beta2)
        check_positive(self.name, "eps", eps)
        check_positive(self.name, "rms_scale", rms_scale)
        check_bool(self.name, "nesterov", nesterov)
        defaults = dict(
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            rms_scale=rms_scale,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype_of(self.name, ns_dtype),
        )
        super().__init__(params, defaults, batched=batched, momentum_hook=momentum_hook)

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        lr, eps = group["lr"], group["eps"]
        for p in self.params_with_grad(group):
            state = self.state[p]
            if not state:
                state["step"] = 0
                state["momentum_buffer"] = torch.zeros_like(p)
                state["v_row"] = torch.zeros_like(p[..., 0])
            state["step"] += 1
            U = self.momentum_step(p, p.grad, state["momentum_buffer"], group["beta1"], group["nesterov"], state["step"])
            O = zeropower(U, group["ns_steps"], dtype=group["ns_dtype"]).to(p.dtype)
            state["v_row"].lerp_(row_mean_square(O), 1.0 - group["beta2"])
            O_hat = row_rescale(O, state["v_row"], eps)
            eta_hat = calibrated_step(O_hat, group["rms_scale"] * lr, eps)
            update = O_hat * eta_hat[..., None, None]
            decay_weights(p, lr, group["weight_decay"])
            p.sub_(update)
            stats.add_update(update)
            stats.add_mean("eta_hat", eta_hat)
