"""DA-Muon: distance-aware (DoG-style) Muon step size (SPEC-optim da-muon, [proposal])."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .distance_aware import DistanceAwareMuon, distance
from .stats import StepStats


class DAMuon(DistanceAwareMuon):
    r"""DA-Muon [proposal: no public code; SPEC-optim's rule implemented literally].

    Muon direction ``O = NS5(U)`` (Nesterov momentum), ``s_i = sqrt(max(1, m_i/n_i))``,
    one ``eta_t`` per group::

        r_eps = 1e-6 (1 + D(W_0, 0))
        r_t   = max(r_eps, max_{i<=t} D(W_i, W_0))
        eta_t = min(eta_max, r_t / sqrt(t + 1))
        W <- (1 - eta_t wd) W - eta_t s O

    ``D(W, W') = max over matrices of ||W - W'||_2 / s``; ``W_i`` ranges over the iterates
    seen so far, the current (pre-update) one included.

    Args:
        params: 2-D parameters or param groups (``batched=True`` is rejected).
        eta_max: step-size cap, > 0 (default 0.03).
        momentum: in [0, 1) (default 0.95).  nesterov: default True.
        weight_decay: >= 0 (default 0).  ns_steps: >= 1 (default 5).
        ns_dtype: float32 (default) or bfloat16.  momentum_hook: as in :class:`Muon`.

    Stats: ``eta_t``, ``r_t``, ``update_rms``, ``update_fro`` (step term, decay excluded).
    """

    name = "da-muon"

    def _init_param_state(self, p: Tensor, state: dict[str, Any]) -> None:
        state["W0"] = p.detach().clone()

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
        W0 = [self.state[p]["W0"] for p in params]
        if "group_r_max" not in gstate:
            gstate["group_r_eps"] = 1e-6 * (1.0 + distance(W0, [torch.zeros_like(w) for w in W0], scales))
            gstate["group_r_max"] = torch.zeros_like(gstate["group_r_eps"])
        torch.maximum(gstate["group_r_max"], distance(params, W0, scales), out=gstate["group_r_max"])
        r_t = torch.maximum(gstate["group_r_eps"], gstate["group_r_max"])
        stats.set("r_t", r_t)
        return (r_t / math.sqrt(t + 1)).clamp_max(group["eta_max"])
