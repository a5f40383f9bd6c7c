"""Sorted-order statistics with the exact arithmetic of ``torch.quantile`` (linear rule).

``torch.quantile`` spends about twenty kernel launches on one call (a NaN scan, rank
tensors, two gathers, ...), which is a fifth of a 64 x 64 TrasMuon step. For a fixed
``q`` the rank ``q (n - 1)``, its floor/ceil and the interpolation weight are plain
numbers, so one sort, two slices and one ``lerp`` give the same result bit for
bit (tested against ``torch.quantile``): the rank and weight are formed in the input's
float precision like torch's (``float32(q) * (n - 1)``), the two neighbours are copied
into contiguous ``(..., 1)`` tensors like torch's ``gather`` (so ``lerp`` takes the same
vectorised or scalar path), and a NaN anywhere in a row gives NaN (torch moves the rank
to the last, NaN, sorted entry).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor

_NP_FLOAT = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16}


@functools.lru_cache(maxsize=256)
def rank_of(q: float, n: int, dtype: torch.dtype) -> tuple[int, int, float]:
    """``(below, above, weight)`` of ``rank = q (n - 1)`` computed in ``dtype``."""
    as_float = _NP_FLOAT.get(dtype, np.float32)
    rank = as_float(q) * as_float(n - 1)
    below = int(rank)
    return below, int(math.ceil(rank)), float(rank - as_float(below))


def sorted_quantile(sorted_x: Tensor, q: float) -> Tensor:
    """``torch.quantile(x, q, dim=-1)`` from ``sorted_x = x.sort(dim=-1).values``.

    ``sorted_x`` must be sorted along the last axis as ``torch.sort`` does (NaN last).
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    n = sorted_x.shape[-1]
    if n == 0:
        raise ValueError("sorted_quantile: empty last axis")
    below, above, weight = rank_of(q, n, sorted_x.dtype)
    value = sorted_x.narrow(-1, below, 1).contiguous().lerp_(sorted_x.narrow(-1, above, 1).contiguous(), weight)
    last = sorted_x.narrow(-1, n - 1, 1)
    # A NaN sorts last; torch.quantile returns NaN for such a row.
    return torch.where(last.isnan(), last, value).squeeze(-1)


def quantile(x: Tensor, q: float) -> Tensor:
    """``torch.quantile(x, q, dim=-1)`` (linear interpolation), bit for bit, cheaper."""
    return sorted_quantile(torch.sort(x, dim=-1).values, q)
