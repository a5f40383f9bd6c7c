"""DF-Muon: distance certificate + majorised 1-D search (SPEC-optim df-muon, [proposal])."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .base import MomentumHook
from .distance_aware import DistanceAwareMuon, distance, dual_norm, pairing, safe_ratio
from .stats import StepStats
from .validation import check_int, check_interval, check_positive

D0 = 1e-4
CURVATURE_EMA = 0.9
DISTANCE_FLOOR = 1e-12


class DFMuon(DistanceAwareMuon):
    r"""DF-Muon [proposal: no public code; SPEC-optim's rule implemented literally].

    Muon direction ``O = NS5(U)`` (Nesterov momentum), one ``eta_t`` per group::

        N_t   = sum_{i<t} eta_i <G_i, W_0 - W_i>        S_t = sum_{i<t} eta_i G_i
        d_hat = N_t / ||S_t||_*   (0 while S_t = 0)
        d_t   = min(rho d_{t-1}, max(d_{t-1}, d_hat)),   d_0 = 1e-4
        eta_bar = min(eta_max, alpha d_t)
        L_t   = EMA_0.9(||G_t - G_{t-1}||_* / max(D(W_t, W_{t-1}), 1e-12))  (first value as is)
        eta_t = argmin_{eta in {eta_bar rho^-j, j = 0..M-1}} -eta <G_t, s O_t> + 1/2 lam L_t eta^2
                (t = 1: eta_bar)
        W <- (1 - eta_t wd) W - eta_t s O

    Reading of the sums: they run over completed steps (``i < t``), whose ``eta_i`` are
    known, and are updated after ``eta_t`` is chosen. ``W_i`` is the pre-update iterate
    of step i; ``G_i`` the raw gradient (a copy is kept for the secant). The pairing
    uses the applied direction ``s O`` as in :class:`SCMuon`. Ties in the argmin take
    the largest step.

    Args:
        params: 2-D parameters or param groups (``batched=True`` is rejected).
        eta_max: > 0 (default 0.03).  alpha: > 0 (default 1).
        rho: growth / search factor, >= 1 (default 2).  lam: curvature weight, > 0 (default 1).
        M: number of search candidates, >= 1 (default 8).
        momentum: in [0, 1) (default 0.95).  nesterov: default True.
        weight_decay: >= 0 (default 0).  ns_steps: >= 1 (default 5).
        ns_dtype: float32 (default) or bfloat16.  momentum_hook: as in :class:`Muon`.

    Stats: ``eta_t``, ``eta_bar``, ``d_t``, ``d_hat``, ``L_t``, ``update_rms``, ``update_fro``.
    """

    name = "df-muon"

    def __init__(
        self,
        params: Iterable[Any],
        *,
        eta_max: float = 0.03,
        alpha: float = 1.0,
        rho: float = 2.0,
        lam: float = 1.0,
        M: int = 8,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | str = torch.float32,
        momentum_hook: MomentumHook | None = None,
    ) -> None:
        check_positive(self.name, "alpha", alpha)
        check_interval(self.name, "rho", rho, 1.0, float("inf"), hi_open=True)
        check_positive(self.name, "lam", lam)
        check_int(self.name, "M", M, 1)
        super().__init__(
            params,
            dict(alpha=alpha, rho=rho, lam=lam, M=M),
            eta_max=eta_max,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            ns_steps=ns_steps,
            ns_dtype=ns_dtype,
            momentum_hook=momentum_hook,
        )

    def _init_param_state(self, p: Tensor, state: dict[str, Any]) -> None:
        state["W0"] = p.detach().clone()
        state["W_prev"] = p.detach().clone()
        state["G_prev"] = torch.zeros_like(p)
        state["S"] = torch.zeros_like(p)

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
        states = [self.state[p] for p in params]
        G = [p.grad for p in params]
        if "group_d" not in gstate:
            gstate["group_d"] = torch.full((), D0, dtype=params[0].dtype, device=params[0].device)
            gstate["group_N"] = torch.zeros_like(gstate["group_d"])
            gstate["group_L"] = torch.zeros_like(gstate["group_d"])
        rho = group["rho"]

        d_prev = gstate["group_d"]
        d_hat = safe_ratio(gstate["group_N"], dual_norm([s["S"] for s in states], scales))
        d = torch.minimum(rho * d_prev, torch.maximum(d_prev, d_hat))
        eta_bar = (group["alpha"] * d).clamp_max(group["eta_max"])

        if t == 1:
            eta = eta_bar
        else:
            secant = dual_norm([g - s["G_prev"] for g, s in zip(G, states)], scales) / distance(
                params, [s["W_prev"] for s in states], scales
            ).clamp_min(DISTANCE_FLOOR)
            L = secant if t == 2 else torch.lerp(secant, gstate["group_L"], CURVATURE_EMA)
            gstate["group_L"].copy_(L)
            candidates = eta_bar * rho ** -torch.arange(group["M"], dtype=eta_bar.dtype, device=eta_bar.device)
            model = -candidates * pairing(G, O, scales) + 0.5 * group["lam"] * L * candidates.square()
            # gather, not Python indexing: the choice stays on the device (no host sync).
            eta = candidates.gather(0, torch.argmin(model).unsqueeze(0)).squeeze(0)

        gstate["group_d"].copy_(d)
        progress = torch.stack([torch.sum(g * (s["W0"] - p)) for g, s, p in zip(G, states, params)]).sum()
        gstate["group_N"].add_(eta * progress)
        for p, g, s in zip(params, G, states):
            s["S"].add_(g * eta)
            s["G_prev"].copy_(g)
            s["W_prev"].copy_(p)

        stats.set("d_t", d)
        stats.set("d_hat", d_hat)
        stats.set("eta_bar", eta_bar)
        stats.set("L_t", gstate["group_L"])
        return eta
