"""Column-energy clip of TrasMuon (Algorithm 1, Appendix B; SPEC-optim trasmuon).

Columns are input features (the last axis). Every function works on ``(m, n)`` and on
batches ``(..., m, n)``; statistics reduce over the last axis only, so batch slices stay
independent.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .quantile import rank_of


def column_energy(M: Tensor) -> Tensor:
    """``E_j = sum_i M_ij^2``, shape ``(..., n)``."""
    return M.square().sum(dim=-2)


@functools.lru_cache(maxsize=64)
def _median_picks(n: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, float]:
    """Positions ``[n-1, above, below]`` of the maximum and the two middle values in a
    sorted row of ``n``, and the interpolation weight (``rank = 0.5 (n - 1)``)."""
    below, above, weight = rank_of(0.5, n, dtype)
    return torch.tensor([n - 1, above, below], device=device), weight


def median_energy(E: Tensor) -> Tensor:
    """``median_j E_j`` as ``torch.quantile(E, 0.5, dim=-1)``: the mean of the two middle
    values for even ``n`` (``torch.median`` would return the lower one), bit for bit.

    The arithmetic of :func:`muonlab.optim.quantile.quantile` in fewer kernels (this runs
    at every TrasMuon step): one sort, one ``index_select`` of the maximum and the two
    middle values, and the ``lerp`` on 0-d tensors (one matrix) or on contiguous copies
    (a batch), the kernel paths that ``quantile`` takes. A NaN anywhere in a row gives
    the NaN that the sort puts last, as in torch (``topk`` would be cheaper, but it can
    pick another of several NaNs, whose bits differ).
    """
    picks, weight = _median_picks(E.shape[-1], E.dtype, E.device)
    last, above, below = torch.sort(E, dim=-1).values.index_select(-1, picks).unbind(-1)
    if E.ndim > 1:
        above, below = above.contiguous(), below.contiguous()
    return torch.where(last.isnan(), last, torch.lerp(below, above, weight))


def energy_ratio(E: Tensor, E_ref: Tensor, eps: float | Tensor) -> Tensor:
    """``r_j = E_j / (E_ref + eps)`` with one ``E_ref`` per matrix (shape ``E.shape[:-1]``)."""
    return E / ((E_ref.unsqueeze(-1) if E_ref.ndim else E_ref) + eps)


def column_clip_coefficient(
    r: Tensor, *, alpha: float, c_min: float, k: float | Tensor | None, one: float | Tensor = 1.0
) -> Tensor:
    """``c_inst_j``: ``clip(1 / (1 + alpha log(1 + r_j)), c_min, 1)`` where the trigger
    ``r_j > k`` fires (everywhere when ``k is None``), else 1. ``k`` and ``one`` (the
    number 1) may be 0-d tensors of ``r``'s dtype (:mod:`muonlab.optim.constants`)."""
    log_term = torch.log1p(r)
    if alpha != 1.0:  # times 1.0 is exact: skipped
        log_term.mul_(alpha)
    c_clip = log_term.add_(one).reciprocal_().clamp_(c_min, 1.0)
    if k is None:
        return c_clip
    return torch.where(r > k, c_clip, one)
