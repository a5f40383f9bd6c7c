"""Gram diagonal dominance (RMNP eqs. 5-6, App. B eqs. 10-16) on cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch
from diag_oracles import haar_orthogonal

from muonlab.diagnostics import gram_diagonal_dominance, mean_gram_diagonal_dominance


def _row_ratios_loop(V: torch.Tensor) -> list[float]:
    """Eq. (5) transcribed entry by entry in float64."""
    m = V.shape[0]
    rows = [V[i].double() for i in range(m)]
    ratios = []
    for i in range(m):
        off = sum(abs(float(rows[i] @ rows[j])) for j in range(m) if j != i) / (m - 1)
        ratios.append(float(rows[i] @ rows[i]) / off)
    return ratios


def test_matches_entrywise_transcription() -> None:
    V = torch.randn(7, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = gram_diagonal_dominance(V)
    ref = torch.tensor(_row_ratios_loop(V), dtype=torch.float64)
    torch.testing.assert_close(out["r"], ref, rtol=1e-12, atol=0)
    assert float(out["r_avg"]) == pytest.approx(float(ref.mean()), rel=1e-12)
    assert float(out["r_min"]) == pytest.approx(float(ref.min()), rel=1e-12)
    assert float(out["r_max"]) == pytest.approx(float(ref.max()), rel=1e-12)


def test_diagonal_matrix_is_infinitely_dominant() -> None:
    V = torch.cat([torch.diag(torch.tensor([1.0, 2.0, 3.0])), torch.zeros(3, 2)], dim=1)
    out = gram_diagonal_dominance(V)
    assert bool(torch.isinf(out["r"]).all()) and math.isinf(float(out["r_min"]))


def test_orthogonal_rows_are_almost_infinitely_dominant() -> None:
    V = haar_orthogonal(16, torch.Generator().manual_seed(1))[:8] * 3.0
    assert float(gram_diagonal_dominance(V)["r_min"]) > 1e12


def test_rank_one_closed_form() -> None:
    # V = u w^T: G_ij = |w|^2 u_i u_j, so r_i = (m - 1) |u_i| / sum_{j != i} |u_j|.
    u = torch.tensor([1.0, -2.0, 0.5, 4.0], dtype=torch.float64)
    w = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    out = gram_diagonal_dominance(torch.outer(u, w))
    expected = 3 * u.abs() / (u.abs().sum() - u.abs())
    torch.testing.assert_close(out["r"], expected, rtol=1e-12, atol=0)
    # Identical rows: every ratio is exactly 1, the RMNP "no dominance" baseline.
    same = gram_diagonal_dominance(torch.ones(5, 3))
    torch.testing.assert_close(same["r"], torch.ones(5))


def test_batch_is_per_slice() -> None:
    V = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = gram_diagonal_dominance(V)
    assert out["r"].shape == (3, 6) and out["r_avg"].shape == (3,)
    for s in range(3):
        single = gram_diagonal_dominance(V[s])
        for key in ("r", "r_avg", "r_min", "r_max"):
            torch.testing.assert_close(out[key][s], single[key], rtol=1e-12, atol=0)


def test_mean_over_parameters() -> None:
    g = torch.Generator().manual_seed(3)
    mats = [torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(9, 4, generator=g, dtype=torch.float64)]
    out = mean_gram_diagonal_dominance(mats)
    per = [gram_diagonal_dominance(V) for V in mats]
    for key in ("r_avg", "r_min", "r_max"):
        assert float(out[key]) == pytest.approx((float(per[0][key]) + float(per[1][key])) / 2, rel=1e-12)
    batched = mean_gram_diagonal_dominance([torch.randn(2, 4, 4, generator=g), torch.randn(2, 3, 5, generator=g)])
    assert batched["r_avg"].shape == (2,)


def test_invalid_inputs() -> None:
    with pytest.raises(ValueError, match="m >= 2"):
        gram_diagonal_dominance(torch.ones(1, 4))
    with pytest.raises(ValueError, match="shape"):
        gram_diagonal_dominance(torch.ones(4))
    with pytest.raises(ValueError, match="matrices"):
        mean_gram_diagonal_dominance([])
    with pytest.raises(ValueError, match="matrices"):
        mean_gram_diagonal_dominance([torch.ones(3, 3), torch.ones(2, 3, 3)])
