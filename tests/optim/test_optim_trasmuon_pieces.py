"""The TrasMuon step's cheaper pieces against the plain ops they replace, bit for bit
(the studies' numbers must not change): the median of the column energies, the bias
correction of E_ref and the RMS normalisation of the momentum."""

import math

import pytest
import torch

from muonlab.optim.column_clip import median_energy
from muonlab.optim.constants import constant
from muonlab.optim.trasmuon import bias_corrected, rms_normalized

INT_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64}


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shapes, dtypes and bytes (NaN payloads and the sign of zero included)."""
    return (a.shape == b.shape and a.dtype == b.dtype
            and torch.equal(a.contiguous().view(INT_VIEW[a.dtype]), b.contiguous().view(INT_VIEW[b.dtype])))


def energies(shape, seed, dtype, kind):
    """Energy-like samples (squares times a heavy tail) and the awkward cases."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64).square()
         * torch.exp(3 * torch.randn(shape, generator=g, dtype=torch.float64))).to(dtype)
    if kind == "subnormal":
        x = x * torch.finfo(dtype).tiny * 1e-3
    elif kind == "ties":
        x = torch.round(x * 2) / 2
    elif kind == "zero":
        x.zero_()
    elif kind == "nan":
        x.view(-1)[seed % x.numel()] = float("nan")
    elif kind == "nans":  # NaNs of different bits: the median must return the one sort puts last
        x[..., ::3] = float("nan")
        x.view(INT_VIEW[dtype])[..., 1::3] = -1  # all bits set: a negative NaN with a payload
    elif kind == "inf":
        x.view(-1)[seed % x.numel()] = float("inf")
        x[..., 0] = float("inf")
    return x


# (32, 64) and (33, 17) take the vectorised lerp path; one row and short rows the scalar one.
@pytest.mark.parametrize("shape", [(1,), (2,), (7,), (64,), (65,), (3, 64), (32, 64), (33, 17), (4, 5, 31)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kind", ["plain", "subnormal", "ties", "zero", "nan", "nans", "inf"])
def test_median_energy_is_torch_quantile_bit_for_bit(shape, dtype, kind):
    for seed in range(4):
        E = energies(shape, seed, dtype, kind)
        assert same_bits(median_energy(E), torch.quantile(E, 0.5, dim=-1))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.95, 0.99])
def test_bias_corrected_is_the_division_bit_for_bit(dtype, beta):
    # Past the step where 1 - beta^t rounds to 1.0 (float32 from step 338 at 0.95, float64 from 730)
    # the division is skipped; every step up to there and beyond must give its bytes.
    values = torch.tensor([0.0, -0.0, 3.7e-3, 1.0, 7.25e5, torch.finfo(dtype).tiny / 8, float("inf"), float("nan")],
                          dtype=dtype)
    last = {0.0: 3, 0.5: 80, 0.9: 400, 0.95: 800, 0.99: 4000}[beta]
    skipped = 0
    for t in range(1, last):
        got = bias_corrected(values, beta, t)
        skipped += got is values
        assert same_bits(got, values / (1.0 - beta**t)), t
    assert skipped > 0  # the range reaches the steps without a division


@pytest.mark.parametrize("shape", [(9, 6), (6, 9), (64, 64), (1, 1), (3, 9, 6), (32, 8, 8)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("eps", [1e-8, 1e-3, 0.0])
def test_rms_normalized_is_the_plain_expression_bit_for_bit(shape, dtype, eps):
    m, n = shape[-2:]
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        M = (torch.randn(shape, generator=g, dtype=torch.float64) * math.exp(20 * (seed - 2))).to(dtype)
        if seed == 4:
            M.view(-1)[0] = float("inf")
        expected = M / (M.norm(dim=(-2, -1), keepdim=True) / math.sqrt(m * n) + eps)
        assert same_bits(rms_normalized(M, constant(eps, dtype, M.device)), expected)
