"""Row-wise normalisers: RMNP's row normalisation and NorMuon/TrasMuon's row second moment.

Rows are output features (axis -2 indexes rows, axis -1 columns); every function works on
``(m, n)`` and on batches ``(..., m, n)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

ROW_NORM_FLOOR = 1e-12


def row_normalize(U: Tensor, floor: float = ROW_NORM_FLOOR) -> Tensor:
    """``D = U / max(||U_row||_2, floor)`` row-wise (RMNP Algorithm 2): rows of D have unit norm."""
    return U / U.norm(dim=-1, keepdim=True).clamp_min(floor)


def row_mean_square(O: Tensor) -> Tensor:
    """``mean_j O[:, j]^2`` per row, shape ``(..., m)`` (NorMuon's second-moment target)."""
    return O.square().mean(dim=-1)


def row_rescale(O: Tensor, v_row: Tensor, eps: float | Tensor) -> Tensor:
    """``diag((v_row + eps)^-1/2) O`` (NorMuon / TrasMuon ``O_base``)."""
    return O * torch.rsqrt(v_row + eps).unsqueeze(-1)
