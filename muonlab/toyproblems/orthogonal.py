"""Seeded Haar-random orthogonal matrices (SPEC 2.1 and 2.3 rotations)."""

from __future__ import annotations

import torch
from torch import Tensor


def haar_orthogonal(n: int, generator: torch.Generator) -> Tensor:
    """Haar-random orthogonal ``(n, n)`` float64 matrix: QR of a Gaussian with the
    signs of ``diag(R)`` moved into Q (without the fix QR is not Haar)."""
    q, r = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=generator))
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)
