"""Gram diagonal dominance of momentum matrices (RMNP sec. 3.2 eqs. 5-6, App. B eqs. 10-16).

For ``V (m x n)`` and ``G = V V^T``:
``r_i = G_ii / ((1/(m-1)) sum_{j != i} |G_ij|)`` (eq. 5/10), ``r_avg``, ``r_min``, ``r_max``
its mean, min and max over rows (eq. 6/11-13), and the global statistics the mean of each
over the K matrix parameters (eqs. 14-16). Rows that are mutually orthogonal make the
denominator zero: ``r_i = inf`` (perfect dominance), or NaN for a zero row (0/0).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def gram_diagonal_dominance(V: torch.Tensor) -> dict[str, torch.Tensor]:
    """Row ratios ``r`` and ``r_avg``, ``r_min``, ``r_max`` of ``V V^T`` (RMNP eqs. 5-6).

    ``V`` is ``(m, n)`` (0-d statistics, ``r`` of shape ``(m,)``) or a batch ``(S, m, n)``
    of independent matrices (statistics per slice, shape ``(S,)``; ``r`` is ``(S, m)``).
    Returns tensors on ``V``'s device (no host sync).
    """
    if V.ndim not in (2, 3) or V.shape[-2] < 2:
        raise ValueError(f"V must have shape (m, n) or (S, m, n) with m >= 2, got {tuple(V.shape)}")
    V = V.detach()
    G = V @ V.transpose(-1, -2)
    diag = torch.diagonal(G, dim1=-2, dim2=-1)
    m = G.shape[-1]
    # Mask the diagonal rather than subtract it: subtraction cancels catastrophically
    # exactly when the diagonal dominates.
    eye = torch.eye(m, dtype=torch.bool, device=G.device)
    off_mean = G.abs().masked_fill(eye, 0).sum(dim=-1) / (m - 1)
    r = diag / off_mean
    return {
        "r": r,
        "r_avg": r.mean(dim=-1),
        "r_min": r.amin(dim=-1),
        "r_max": r.amax(dim=-1),
    }


def mean_gram_diagonal_dominance(matrices: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """``r_avg``, ``r_min``, ``r_max`` averaged over matrix parameters (RMNP eqs. 14-16).

    All matrices are 2-D, or all are batches with the same leading ``S`` (then the
    averages are per slice).
    """
    if len(matrices) == 0:
        raise ValueError("matrices must be a non-empty sequence, got an empty one")
    stats = [gram_diagonal_dominance(V) for V in matrices]
    shapes = {s["r_avg"].shape for s in stats}
    if len(shapes) != 1:
        raise ValueError(f"matrices must all be 2-D or all (S, m, n) with one S, got {sorted(shapes)}")
    return {key: torch.stack([s[key] for s in stats]).mean(dim=0) for key in ("r_avg", "r_min", "r_max")}
