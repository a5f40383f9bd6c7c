"""Float64 transcriptions shared by the optimizer tests (independent of muonlab.optim)."""

from __future__ import annotations

import torch

A, B, C = 3.4445, -4.7750, 2.0315
EPS32 = 2.0**-24
# max |p'(s)| of the NS5 quintic p(s) = A s + B s^3 + C s^5 on the iterates' range [0, 1.2]
NS5_SLOPE = 3.9


def ns5_float32_bound(m: int, n: int, steps: int = 5) -> float:
    """Per-entry bound on the difference of a float32 NS5 from the exact one (or from
    another float32 NS5 that sums in another order: AVX2 vs AVX-512, bmm vs mm).

    Each iteration does 3 matmuls of inner size <= max(m, n): relative error
    <= 3 max(m, n) eps32 on entries <= 1.2 (gamma_n, eps32 = 2**-24). An error made in
    iteration k is amplified by at most NS5_SLOPE per later iteration, so the output's
    error is <= 1.2 * 3 max(m, n) eps32 * sum_k NS5_SLOPE**k (worst case; typical
    rounding is far smaller).
    """
    return 1.2 * 3 * max(m, n) * EPS32 * sum(NS5_SLOPE**k for k in range(steps))


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
