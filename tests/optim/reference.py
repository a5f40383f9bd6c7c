"""Float64 transcriptions shared by the optimizer tests (independent of muonlab.optim)."""

from __future__ import annotations

import torch

A, B, C = 3.4445, -4.7750, 2.0315


def ns5_f64(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """SPEC-optim NS5, written out in float64 for one matrix."""
    X = G.double()
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    X = X / (torch.sqrt((X * X).sum()) + 1e-7)
    for _ in range(steps):
        Agram = X @ X.T
        Bpoly = B * Agram + C * Agram @ Agram
        X = A * X + Bpoly @ X
    return X.T if tall else X


def gradient_sequence(shape: tuple[int, ...], steps: int, seed: int, dtype=torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype) for _ in range(steps)]
