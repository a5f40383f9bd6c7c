"""TrasMuon and its ablations (TrasMuon Algorithm 1, Appendix B; SPEC-optim trasmuon).

TrasMuon = NorMuon's row normalisation + RMS calibration (``rms_scale = 1``) + a column
clip driven by the column energy of the momentum + EMA / schedule-free smoothing of the
clip. The registry variants are switches of this one class: ``trasmuon-noclip``
(``clip=False``), ``trasmuon-clip-only`` (``rho=0``), ``trasmuon-clip-sf`` = ``trasmuon``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .base import MatrixOptimizer, MomentumHook, decay_weights, validate_common
from .column_clip import column_clip_coefficient, column_energy, energy_ratio, median_energy
from .constants import constant
from .normuon import calibrated_step
from .row_norm import row_mean_square, row_rescale
from .stats import StepStats
from .validation import (
    check_bool,
    check_coefficient,
    check_int,
    check_interval,
    check_nonnegative,
    check_positive,
    ns_dtype_of,
)
from .zeropower import zeropower


class TrasMuon(MatrixOptimizer):
    r"""TrasMuon: trust-region-style column clip on top of calibrated NorMuon.

    State per matrix: ``M = 0, v_row = 0, E_ref = 0, c_ema = 1, c_last = 1, S = 0, C = 0``;
    ``gamma_t = lr``. Per step ``t``::

        W <- (1 - lr wd) W
        M <- beta1 M + (1 - beta1) G                        ; momentum_hook(W, M, t)
        O <- NS5(M / (||M||_F / sqrt(m n) + eps))
        v_row <- beta2 v_row + (1 - beta2) mean_j O[:, j]^2
        O_base <- diag((v_row + eps)^-1/2) O
        eta_hat <- lr sqrt(m n) / (||O_base||_F + eps)
        E_j <- sum_i M_ij^2 ; E_cur <- median_j E_j
        E_ref <- beta_E E_ref + (1 - beta_E) E_cur
        E_ref_used <- E_ref / (1 - beta_E^t) if ref_bias_correction else E_ref
        S <- S + gamma_t^2 ; C <- C + gamma_t^2 c_last ; c_avg <- C / (S + eps)
        if clip and t > T_w and t % K == 0:
            r_j <- E_j / (E_ref_used + eps)
            c_inst_j <- clip(1 / (1 + alpha log(1 + r_j)), c_min, 1) if (k is None or r_j > k) else 1
            c_ema <- beta_c c_ema + (1 - beta_c) c_inst
        c <- 1 if (not clip or t <= T_w) else (1 - rho) c_ema + rho c_avg
        c_last <- c
        W <- W - eta_hat O_base c[None, :]

    ``ref_bias_correction=True`` is [proposal]: Algorithm 1 starts ``E_ref`` at 0 without
    correction (``False`` reproduces it literally).

    Args:
        params: 2-D parameters (or ``(S, m, n)`` with ``batched=True``) or param groups.
        lr: > 0 (default 1e-3).  beta1, beta2: in [0, 1) (default 0.95, 0.95).
        eps: > 0 (default 1e-8).  weight_decay: >= 0 (default 0).
        ns_steps: >= 1 (default 5).  ns_dtype: float32 (default) or bfloat16.
        c_min: clip floor, in (0, 1] (default 0.1).
        alpha: clip strength, >= 0 (default 1.0).
        beta_E: E_ref EMA coefficient, in [0, 1) (default 0.95).
        beta_c: clip EMA coefficient, in [0, 1) (default 0.9).
        k: trigger threshold on r_j, >= 0, or None for no trigger (default 1.0).
        K: recompute the clip every K steps, >= 1 (default 1).
        T_w: warm-up steps with c = 1, >= 0 (default 10).
        rho: weight of the schedule-free average c_avg, in [0, 1] (default 0.5).
        ref_bias_correction: default True.
        clip: False gives ``trasmuon-noclip`` (c = 1 always) (default True).
        batched, momentum_hook: as in :class:`Muon`.

    Stats: ``update_rms``, ``update_fro`` (step term, decay excluded), ``eta_hat`` (mean
    over matrices), ``r_q95``, ``r_max`` (of r_j every step, over all columns),
    ``c_used_min``, ``c_used_mean``, ``frac_clipped`` (share of columns with c < 1).
    """

    name = "trasmuon"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        lr: float = 1e-3,
        beta1: float = 0.95,
        beta2: float = 0.95,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | str = torch.float32,
        c_min: float = 0.1,
        alpha: float = 1.0,
        beta_E: float = 0.95,
        beta_c: float = 0.9,
        k: float | None = 1.0,
        K: int = 1,
        T_w: int = 10,
        rho: float = 0.5,
        ref_bias_correction: bool = True,
        clip: bool = True,
        batched: bool = False,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        validate_common(self.name, lr=lr, weight_decay=weight_decay, ns_steps=ns_steps)
        for field, value in (("beta1", beta1), ("beta2", beta2), ("beta_E", beta_E), ("beta_c", beta_c)):
            check_coefficient(self.name, field, value)
        check_positive(self.name, "eps", eps)
        check_interval(self.name, "c_min", c_min, 0.0, 1.0, lo_open=True)
        check_nonnegative(self.name, "alpha", alpha)
        if k is not None:
            check_nonnegative(self.name, "k", k)
        check_int(self.name, "K", K, 1)
        check_int(self.name, "T_w", T_w, 0)
        check_interval(self.name, "rho", rho, 0.0, 1.0)
        check_bool(self.name, "ref_bias_correction", ref_bias_correction)
        check_bool(self.name, "clip", clip)
        defaults = dict(
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype_of(self.name, ns_dtype),
            c_min=c_min,
            alpha=alpha,
            beta_E=beta_E,
            beta_c=beta_c,
            k=k,
            K=K,
            T_w=T_w,
            rho=rho,
            ref_bias_correction=ref_bias_correction,
            clip=clip,
        )
        super().__init__(params, defaults, batched=batched, momentum_hook=momentum_hook)

    @staticmethod
    def _init_state(p: torch.Tensor) -> dict[str, Any]:
        columns = p[..., 0, :]
        batch = p[..., 0, 0]
        return {
            "step": 0,
            "momentum_buffer": torch.zeros_like(p),
            "v_row": torch.zeros_like(p[..., 0]),
            "E_ref": torch.zeros_like(batch),
            "c_ema": torch.ones_like(columns),
            "c_last": torch.ones_like(columns),
            "S": torch.zeros_like(batch),
            "C": torch.zeros_like(columns),
        }

    def _step_group(self, group: dict[str, Any], stats: StepStats) -> None:
        lr, eps = group["lr"], group["eps"]
        beta_E, T_w = group["beta_E"], group["T_w"]
        gamma_sq = lr * lr
        for p in self.params_with_grad(group):
            state = self.state[p]
            if not state:
                state.update(self._init_state(p))
            state["step"] += 1
            t = state["step"]
            M = state["momentum_buffer"]
            dtype, device = p.dtype, p.device
            clipping = group["clip"] and t > T_w

            # The fixed numbers as cached 0-d tensors: the same values, cheaper ops.
            eps_t = constant(eps, dtype, device)
            decay_weights(p, lr, group["weight_decay"])
            self.momentum_step(p, p.grad, M, group["beta1"], False, t)
            M_scaled = rms_normalized(M, eps_t)
            O = zeropower(M_scaled, group["ns_steps"], dtype=group["ns_dtype"]).to(dtype)
            state["v_row"].lerp_(row_mean_square(O), 1.0 - group["beta2"])
            O_base = row_rescale(O, state["v_row"], eps_t)
            eta_hat = calibrated_step(O_base, lr, eps_t)

            E = column_energy(M)
            E_ref = state["E_ref"]
            E_ref.lerp_(median_energy(E), 1.0 - beta_E)
            if group["ref_bias_correction"]:
                E_ref = bias_corrected(E_ref, beta_E, t)
            r = energy_ratio(E, E_ref, eps_t)

            S, C, c_last = state["S"], state["C"], state["c_last"]
            S.add_(constant(gamma_sq, dtype, device))
            C.add_(c_last, alpha=gamma_sq)
            if clipping and t % group["K"] == 0:
                k = group["k"]
                c_inst = column_clip_coefficient(
                    r,
                    alpha=group["alpha"],
                    c_min=group["c_min"],
                    k=None if k is None else constant(k, dtype, device),
                    one=constant(1.0, dtype, device),
                )
                state["c_ema"].lerp_(c_inst, 1.0 - group["beta_c"])
            if clipping:
                c_avg = C / ((S.unsqueeze(-1) if S.ndim else S) + eps_t)
                torch.lerp(state["c_ema"], c_avg, group["rho"], out=c_last)
            else:
                c_last.fill_(1.0)

            # (c_j eta_hat) per column, then O_base times that row: the same products.
            if eta_hat.ndim:
                update = O_base * (c_last * eta_hat.unsqueeze(-1)).unsqueeze(-2)
            else:  # one matrix: the 0-d step and the (n,) row broadcast as they are
                update = O_base * (c_last * eta_hat)
            p.sub_(update)
            stats.add_update(update)
            stats.add_mean("eta_hat", eta_hat)
            stats.add_energy_ratios(r)
            stats.add_column_scales(c_last)


def rms_normalized(M: Tensor, eps: Tensor) -> Tensor:
    """``M / (||M||_F / sqrt(m n) + eps)`` per matrix (Algorithm 1's NS input); ``eps`` a
    0-d tensor of ``M``'s dtype. ``addcdiv`` rounds the quotient, then the sum, as the
    two separate ops do (its factor 1 is exact)."""
    m, n = M.shape[-2:]
    norm = torch.linalg.vector_norm(M, dim=(-2, -1), keepdim=True)
    return M / torch.addcdiv(eps, norm, constant(math.sqrt(m * n), M.dtype, M.device))


# The smallest Python float that the cast to each dtype rounds to 1.0 (round to nearest,
# ties to even: the midpoint 1 - eps/4 below 1.0 goes to 1.0). float64: 1.0 itself. Other
# dtypes always divide (2.0 is never reached).
_ROUNDS_TO_ONE = {torch.float32: 1.0 - torch.finfo(torch.float32).eps / 4, torch.float64: 1.0}


def bias_corrected(E_ref: Tensor, beta_E: float, t: int) -> Tensor:
    """``E_ref / (1 - beta_E^t)``. Once the divisor rounds to 1.0 in ``E_ref``'s dtype (a
    float32 run from step 338 at ``beta_E = 0.95``; at once for ``beta_E = 0``), the
    quotient is ``E_ref`` itself, bit for bit, and the division is skipped."""
    correction = 1.0 - beta_E**t
    if correction >= _ROUNDS_TO_ONE.get(E_ref.dtype, 2.0):
        return E_ref
    return E_ref / correction
