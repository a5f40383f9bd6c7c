"""Collocation and evaluation points on Omega = [0,1]^2 (SPEC 3, T eq. 43 and Appendix F).

Samplers take an explicit ``numpy.random.Generator`` (see ``roi.step_rng``) and return
float64 arrays of shape ``(n, 2)``; the problem casts them to its dtype and device.
"""

from __future__ import annotations

import numpy as np

from muonlab.pinn.roi import Patch

UNIT_SQUARE: Patch = (0.0, 1.0, 0.0, 1.0)


def in_patch(points: np.ndarray, patch: Patch) -> np.ndarray:
    """Boolean mask of the points lying in the closed rectangle ``patch``."""
    x0, x1, y0, y1 = patch
    x, y = points[:, 0], points[:, 1]
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


def _scale_to(patch: Patch, unit: np.ndarray) -> np.ndarray:
    x0, x1, y0, y1 = patch
    return np.array([x0, y0]) + np.array([x1 - x0, y1 - y0]) * unit


def interior_points(
    rng: np.random.Generator, n: int, *, patch: Patch | None = None, alpha: float = 0.95
) -> np.ndarray:
    """``n`` i.i.d. interior points, from Uniform(Omega) or, given an ROI ``patch``, from
    the mixture ``p_t = (1 - alpha) Uniform(Omega) + alpha Uniform(patch)`` (eq. T-43).

    The mixture component is drawn per point (Bernoulli(alpha)), so the points are exact
    i.i.d. draws of ``p_t``; the count in the patch is Binomial, ~95% of ``n`` by default.
    """
    unit = rng.random((n, 2))
    if patch is None:
        return unit
    from_roi = rng.random(n) < alpha
    # An affine image of a Uniform(Omega) point is Uniform(patch): one draw serves both.
    return np.where(from_roi[:, None], _scale_to(patch, unit), unit)


def boundary_points(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` points uniform over the boundary of Omega (the 4 unit edges, arc length)."""
    arc = 4.0 * rng.random(n)
    edge = np.minimum(arc.astype(np.int64), 3)
    t = arc - edge
    zeros, ones = np.zeros(n), np.ones(n)
    # Edges in order: y = 0, y = 1, x = 0, x = 1.
    x = np.choose(edge, [t, t, zeros, ones])
    y = np.choose(edge, [zeros, ones, t, t])
    return np.stack([x, y], axis=1)


def nonroi_points(rng: np.random.Generator, n: int, *, patch: Patch) -> np.ndarray:
    """``n`` points uniform on Omega minus the closed ``patch`` (rejection sampling;
    the patches cover at most 0.25% of Omega, so one round nearly always suffices)."""
    kept = np.empty((0, 2))
    while len(kept) < n:
        candidates = rng.random((n, 2))
        kept = np.concatenate([kept, candidates[~in_patch(candidates, patch)]])
    return kept[:n]


def cell_centre_grid(n: int, patch: Patch = UNIT_SQUARE) -> np.ndarray:
    """Centres of the ``n x n`` equal cells of ``patch``, shape ``(n*n, 2)``, x-major."""
    x0, x1, y0, y1 = patch
    centres = (np.arange(n) + 0.5) / n
    gx, gy = np.meshgrid(x0 + (x1 - x0) * centres, y0 + (y1 - y0) * centres, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)
