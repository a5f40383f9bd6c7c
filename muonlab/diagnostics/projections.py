"""Dominant/bulk ratios of a vector against the top-k Hessian subspace (AMUSE; SPEC 4).

``r_dom = ||Q Q^T v|| / ||v||`` and ``r_bulk = sqrt(1 - r_dom^2)`` for orthonormal
columns ``Q``; ``r_dom^2 + r_bulk^2 = 1`` because both are orthogonal projections.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from .hvp import flatten
from .lanczos import WHICH, lanczos
from .operators import Operator
from .results import EigenResult


def dom_bulk_ratio(v: torch.Tensor, Q: torch.Tensor) -> tuple[float, float]:
    """``(r_dom, r_bulk)`` of a flat ``v`` against orthonormal columns ``Q (dim, k)``.

    ``r_bulk`` is computed as ``||v - Q Q^T v|| / ||v||``, equal to ``sqrt(1 - r_dom^2)``
    for orthonormal ``Q`` but free of its cancellation when ``v`` lies almost inside
    span(Q). A zero ``v`` has no direction: both ratios are NaN (logged as missing).
    """
    if Q.ndim != 2 or v.ndim != 1 or v.shape[0] != Q.shape[0]:
        raise ValueError(
            f"v must be flat (dim,) and Q (dim, k) with the same dim, got {tuple(v.shape)} "
            f"and {tuple(Q.shape)}"
        )
    v = v.detach().to(device=Q.device, dtype=Q.dtype)
    norm = v.norm()
    if norm == 0:
        return math.nan, math.nan
    dominant = Q @ (Q.T @ v)
    return float(dominant.norm() / norm), float((v - dominant).norm() / norm)


VectorLike = torch.Tensor | Sequence[torch.Tensor]


class DomBulkTracker:
    """Tracks dominant/bulk ratios along a run (SPEC section 4, AMUSE Fig. 2).

    At steps that are multiples of ``every`` it returns ``{"r_dom_<name>", "r_bulk_<name>"}``
    for each named vector; the top-k subspace ``Q`` is recomputed by ``lanczos`` at the
    first observed step and then whenever ``refresh`` or more steps have passed since the
    last refresh. Each refresh after the first warm-starts Lanczos from the previous
    subspace (``lanczos(v0=Q_prev)``): the subspace moves between refreshes, so a start
    inside the old one weighs the new top directions better than a random vector.
    It only observes: vectors are read through detached copies, and the Lanczos random
    start vectors come from a generator seeded by ``(seed, step)``, so a run's
    parameters, gradients and global RNG streams are unchanged by tracking.
    """

    def __init__(
        self,
        k: int,
        every: int,
        refresh: int,
        *,
        which: str = "LA",
        tol: float = 1e-4,
        max_iter: int | None = None,
        seed: int = 0,
    ) -> None:
        for name, value in (("k", k), ("every", every), ("refresh", refresh)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"DomBulkTracker: {name} must be an int >= 1, got {value!r}")
        if which not in WHICH:
            raise ValueError(f"DomBulkTracker: which must be one of {WHICH}, got {which!r}")
        self.k, self.every, self.refresh = k, every, refresh
        self.which, self.tol, self.max_iter, self.seed = which, tol, max_iter, seed
        self.eigen: EigenResult | None = None
        self.refreshed_at: int | None = None

    def _lanczos_seed(self, step: int) -> int:
        return int(np.random.SeedSequence([self.seed, step]).generate_state(1)[0])

    def _warm_start(self) -> torch.Tensor | None:
        """The previous subspace, when there is a usable one (a Hessian with non-finite
        entries leaves non-finite vectors: the next refresh then starts cold)."""
        if self.eigen is None or not bool(torch.isfinite(self.eigen.eigenvectors).all()):
            return None
        return self.eigen.eigenvectors

    def update(
        self,
        step: int,
        operator_factory: Callable[[], Operator],
        vectors: Mapping[str, VectorLike],
    ) -> dict[str, float] | None:
        """Ratios at an observed step (``step % every == 0``), else ``None``.

        operator_factory: builds the Hessian operator of the loss at the current
            parameters (e.g. ``lambda: hessian_operator(loss_fn, params)``); called only
            on refresh steps.
        vectors: name -> flat vector, or a list of tensors flattened in order.
        """
        if step % self.every != 0:
            return None
        if self.refreshed_at is None or step - self.refreshed_at >= self.refresh:
            op = operator_factory()
            self.eigen = lanczos(op, min(self.k, op.dim), which=self.which, tol=self.tol,
                                 max_iter=self.max_iter, seed=self._lanczos_seed(step), v0=self._warm_start())
            self.refreshed_at = step
        Q = self.eigen.eigenvectors
        out: dict[str, float] = {}
        for name, vec in vectors.items():
            flat = vec.detach().reshape(-1) if isinstance(vec, torch.Tensor) else \
                flatten([t.detach() for t in vec])
            out[f"r_dom_{name}"], out[f"r_bulk_{name}"] = dom_bulk_ratio(flat, Q)
        return out
