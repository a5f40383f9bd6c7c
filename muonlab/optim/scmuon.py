"""SC-Muon: Muon step size from a descent certificate (SPEC-optim sc-muon, [proposal])."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .distance_aware import DistanceAwareMuon, dual_norm, pairing, safe_ratio
from .stats import StepStats


class SCMuon(DistanceAwareMuon):
    r"""SC-Muon [proposal: no public code; SPEC-optim's rule implemented literally].

    Muon direction ``O = NS5(U)`` (Nesterov momentum), one ``eta_t`` per group from the
    raw gradient ``G`` of this step::

        kappa_t = <G, s O> / ||G||_*        (global over the group; in [-1, 1])
        eta_t   = eta_max clip(kappa_t, 0, 1)
        W <- (1 - eta_t wd) W - eta_t s O

    with ``||G||_* = sum s ||G||_nuc``. The pairing uses the applied direction ``s O``
    (SPEC writes ``<G, O>``; they agree when ``m <= n``), which is what bounds
    ``|kappa_t| <= 1`` by duality. Momentum still updates when ``eta_t = 0``; a zero
    gradient gives ``kappa_t = 0``.

    Args:
        params: 2-D parameters or param groups (``batched=True`` is rejected).
        eta_max: > 0 (default 0.03).  momentum: in [0, 1) (default 0.95).
        nesterov: default True.  weight_decay: >= 0 (default 0).
        ns_steps: >= 1 (default 5).  ns_dtype: float32 (default) or bfloat16.
        momentum_hook: as in :class:`Muon`.

    Stats: ``eta_t``, ``kappa_t``, ``update_rms``, ``update_fro``.
    """

    name = "sc-muon"

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
        G = [p.grad for p in params]
        kappa = safe_ratio(pairing(G, O, scales), dual_norm(G, scales))
        stats.set("kappa_t", kappa)
        return group["eta_max"] * kappa.clamp(0.0, 1.0)
