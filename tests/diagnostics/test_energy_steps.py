"""Column energy (T G.2) and effective step size (T F.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from muonlab.diagnostics import StepSizeTracker, column_energy, effective_step_size, energy_ratios


def test_column_energy_matrix_and_batch() -> None:
    M = torch.tensor([[1.0, -2.0, 0.0], [3.0, 1.0, -1.0]])
    torch.testing.assert_close(column_energy(M), torch.tensor([10.0, 5.0, 1.0]))
    batch = torch.randn(4, 5, 6, generator=torch.Generator().manual_seed(0))
    E = column_energy(batch)
    assert E.shape == (4, 6)
    for s in range(4):
        torch.testing.assert_close(E[s], (batch[s] ** 2).sum(dim=0))
    with pytest.raises(ValueError, match="M"):
        column_energy(torch.ones(3))


def test_energy_ratios_against_numpy() -> None:
    E = torch.rand(37, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 5
    out = energy_ratios(E, 1.5, eps=1e-8)
    r = E.numpy() / (1.5 + 1e-8)
    torch.testing.assert_close(out["r"], torch.from_numpy(r))
    assert float(out["r_q95"]) == pytest.approx(np.quantile(r, 0.95), rel=1e-12)  # linear interpolation
    assert float(out["r_max"]) == pytest.approx(r.max(), rel=1e-12)


def test_energy_ratios_per_slice_reference() -> None:
    E = torch.tensor([[1.0, 2.0, 4.0], [3.0, 3.0, 9.0]], dtype=torch.float64)
    out = energy_ratios(E, torch.tensor([2.0, 3.0], dtype=torch.float64), eps=0.0)
    torch.testing.assert_close(out["r"], torch.tensor([[0.5, 1.0, 2.0], [1.0, 1.0, 3.0]], dtype=torch.float64))
    torch.testing.assert_close(out["r_max"], torch.tensor([2.0, 3.0], dtype=torch.float64))
    # 0.95 quantile of 3 sorted values: position 1.9 -> v1 + 0.9 (v2 - v1).
    torch.testing.assert_close(out["r_q95"], torch.tensor([1.9, 2.8], dtype=torch.float64))


def test_effective_step_size_closed_form() -> None:
    prev = [torch.zeros(2, 3), torch.zeros(4)]
    cur = [torch.full((2, 3), 0.5), torch.tensor([0.5, -0.5, 0.5, -0.5])]
    # Every entry moved by 0.5: s = sqrt(P * 0.25) / sqrt(P) = 0.5.
    assert float(effective_step_size(prev, cur)) == pytest.approx(0.5, abs=1e-15)
    # One entry of P = 10 moved by 3: s = 3 / sqrt(10).
    cur = [torch.zeros(2, 3), torch.tensor([0.0, 3.0, 0.0, 0.0])]
    assert float(effective_step_size(prev, cur)) == pytest.approx(3 / math.sqrt(10), rel=1e-14)
    with pytest.raises(ValueError, match="shape"):
        effective_step_size([torch.zeros(2)], [torch.zeros(3)])
    with pytest.raises(ValueError, match="length"):
        effective_step_size([torch.zeros(2)], [])


def test_step_size_tracker_median_over_window() -> None:
    p = torch.zeros(4)
    tracker = StepSizeTracker(window=3)
    assert tracker.update([p]) is None and math.isnan(tracker.median())
    moves = [1.0, 5.0, 2.0, 4.0, 3.0]
    values = []
    for move in moves:
        p += move  # in place: the tracker must hold its own snapshot
        values.append(float(tracker.update([p])))
    np.testing.assert_allclose(values, moves, rtol=1e-12)  # all entries move: s_t = move
    assert tracker.median() == pytest.approx(np.median(moves[-3:]))
    everything = StepSizeTracker()
    q = torch.zeros(2)
    everything.update([q])
    for move in (1.0, 2.0, 4.0, 8.0):
        everything.update([q + move])
        q = q + move
    assert everything.median() == pytest.approx(3.0)  # mean of the two middle values
    with pytest.raises(ValueError, match="window"):
        StepSizeTracker(window=0)
