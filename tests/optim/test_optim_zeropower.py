"""zeropower: NS5 against a float64 transcription, the SVD polar factor, batching."""

import pytest
import torch

from muonlab.optim import zeropower

from .reference import ns5_f64, ns5_float32_bound


def _well_conditioned(m: int, n: int, seed: int, cond: float = 2.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    U, _ = torch.linalg.qr(torch.randn(m, min(m, n), generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(n, min(m, n), generator=g, dtype=torch.float64))
    s = torch.linspace(1.0, 1.0 / cond, min(m, n), dtype=torch.float64)
    return (U * s) @ V.T


@pytest.mark.parametrize("shape", [(12, 12), (20, 7), (7, 20)])
def test_ns5_matches_float64_transcription(shape):
    G = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    out = zeropower(G)
    assert out.dtype == torch.float32 and out.shape == G.shape
    # float32 vs exact: the NS5 rounding bound (1.3e-3 for 20 x 7); a wrong coefficient
    # moves entries by ~1e-2
    torch.testing.assert_close(out.double(), ns5_f64(G), rtol=0, atol=ns5_float32_bound(*shape))


@pytest.mark.parametrize("shape", [(16, 16), (24, 10), (10, 24)])
def test_ns5_close_to_svd_polar_factor(shape):
    G = _well_conditioned(*shape, seed=2).float()
    polar = zeropower(G, method="svd")
    U, _, Vh = torch.linalg.svd(G.double(), full_matrices=False)
    torch.testing.assert_close(polar.double(), U @ Vh, rtol=0, atol=1e-5)
    ns = zeropower(G, steps=5)
    # NS5 keeps the singular vectors and maps singular values into roughly [0.7, 1.2].
    core = U.T @ ns.double() @ Vh.T
    off_diagonal = core - torch.diag(torch.diagonal(core))
    assert off_diagonal.abs().max() < 1e-4
    assert torch.diagonal(core).min() > 0.6 and torch.diagonal(core).max() < 1.25
    assert (ns.double() - U @ Vh).norm() / (U @ Vh).norm() < 0.3


def test_batched_equals_per_matrix_and_transpose():
    G = torch.randn(3, 2, 9, 5, generator=torch.Generator().manual_seed(3))
    G[1, 0] *= 100.0  # per-matrix normalisation: a large slice must not affect the others
    out = zeropower(G)
    for i in range(3):
        for j in range(2):
            # bmm vs mm: two summation orders, each within the NS5 rounding bound (6e-4)
            torch.testing.assert_close(out[i, j], zeropower(G[i, j]), rtol=0, atol=2 * ns5_float32_bound(9, 5))
    torch.testing.assert_close(zeropower(G[0, 0].T), out[0, 0].T, rtol=0, atol=2 * ns5_float32_bound(9, 5))


def test_bfloat16_close_to_float32_and_zero_input():
    G = torch.randn(16, 8, generator=torch.Generator().manual_seed(4))
    out16 = zeropower(G, dtype=torch.bfloat16)
    assert out16.dtype == torch.bfloat16
    assert (out16.float() - zeropower(G)).abs().max() < 0.05
    zero = zeropower(torch.zeros(6, 4))
    assert torch.equal(zero, torch.zeros(6, 4))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="method"):
        zeropower(torch.ones(3, 3), method="qr")
    with pytest.raises(ValueError, match="dtype"):
        zeropower(torch.ones(3, 3), dtype=torch.float16)
    with pytest.raises(ValueError, match="at least 2"):
        zeropower(torch.ones(3))
