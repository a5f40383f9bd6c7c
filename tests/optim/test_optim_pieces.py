"""The composable pieces, each against a direct computation."""

import math

import pytest

import torch

from muonlab.optim.column_clip import column_clip_coefficient, column_energy, energy_ratio, median_energy
from muonlab.optim.row_norm import row_mean_square, row_normalize, row_rescale
from muonlab.optim.scaling import muon_scale
from muonlab.optim.schedule_free import averaging_weight, interpolate, interpolation_beta, warmup_lr


def test_column_energy_median_and_ratio():
    M = torch.tensor([[1.0, 2.0, 0.0, 3.0], [1.0, 0.0, 2.0, 4.0]])
    E = column_energy(M)
    assert E.tolist() == [2.0, 4.0, 4.0, 25.0]
    assert median_energy(E).item() == 4.0
    E2 = torch.tensor([[1.0, 9.0, 3.0, 5.0], [2.0, 2.0, 8.0, 4.0]])
    assert median_energy(E2).tolist() == [4.0, 3.0]  # mean of the two middle values
    r = energy_ratio(E2, torch.tensor([2.0, 4.0]), eps=0.0)
    assert r.tolist() == [[0.5, 4.5, 1.5, 2.5], [0.5, 0.5, 2.0, 1.0]]


def test_column_clip_coefficient():
    r = torch.tensor([0.5, 1.0, 3.0, 1000.0])
    c = column_clip_coefficient(r, alpha=1.0, c_min=0.2, k=1.0)
    expected = [1.0, 1.0, 1 / (1 + math.log(4.0)), 0.2]
    torch.testing.assert_close(c, torch.tensor(expected))
    c_all = column_clip_coefficient(r, alpha=1.0, c_min=0.2, k=None)
    assert c_all[0].item() == torch.tensor(1 / (1 + math.log(1.5))).item()


def test_row_pieces():
    U = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])
    torch.testing.assert_close(row_normalize(U), torch.tensor([[0.6, 0.8], [0.0, 0.0], [1.0, 0.0]]))
    assert row_mean_square(U).tolist() == [12.5, 0.0, 0.5]
    torch.testing.assert_close(row_rescale(U, torch.tensor([4.0, 1.0, 0.25]), 0.0), torch.tensor([[1.5, 2.0], [0.0, 0.0], [2.0, 0.0]]))


def test_scales():
    assert muon_scale(8, 2) == 2.0 and muon_scale(2, 8) == 1.0
    assert muon_scale(2, 8, "match_rms_adamw") == 0.2 * math.sqrt(8)


def test_schedule_free_scalars():
    assert warmup_lr(0.1, 2, 4) == 0.05 and warmup_lr(0.1, 9, 4) == 0.1
    c1, s1 = averaging_weight(0.5, 0.0)
    c2, s2 = averaging_weight(0.5, s1)
    assert (c1, s1, c2, s2) == (1.0, 0.25, 0.5, 0.5)
    assert interpolation_beta(3, 5, beta1=0.9, rho=1.0, c_t=0.1, c_T0=0.2) == 0.9
    S = 0.1 * 0.8 / (0.2 * 0.9)
    assert interpolation_beta(7, 5, beta1=0.9, rho=1.0, c_t=0.1, c_T0=0.2) == pytest.approx(1 - S * 0.1, rel=1e-12)
    assert interpolation_beta(7, 5, beta1=0.9, rho=0.0, c_t=0.1, c_T0=0.2) == 0.9
    z, x = torch.tensor([0.0]), torch.tensor([1.0])
    assert interpolate(z, x, 0.75).item() == 0.75
