"""Threshold-free burst metrics (SPEC 11) on hand-built series with known answers."""

from __future__ import annotations

import numpy as np

from muonlab.diagnostics.spikes import burst_metrics, burst_summary, spike_count_curve
from muonlab.runner.spikes import spike_statistics


def _series() -> np.ndarray:
    # Steps 1..30 at loss 1; after the event at step 11 the loss is 2, 3, 1.5 at steps
    # 12-14 and back to 1 from step 15; the event at step 21 has no response.
    losses = np.ones(30)
    losses[11:14] = [2.0, 3.0, 1.5]  # losses[i] is step i + 1
    return losses


def test_excess_loss_and_recovery_known_answers():
    out = burst_metrics(_series(), [11, 21])
    assert list(out["step"]) == [11, 21]
    assert list(out["horizon"]) == [9, 9]
    # (2 - 1) + (3 - 1) + (1.5 - 1) = 3.5; the quiet event has none.
    assert list(out["excess_loss"]) == [3.5, 0.0]
    # peak at k = 2 (step 13); first k >= 2 with L <= b = 1 is step 15: k = 4. The quiet
    # event never rises above its baseline: 0.
    assert list(out["recovery_time"]) == [4.0, 0.0]
    assert list(out["peak"]) == [3.0, 1.0]


def test_censored_recovery_is_inf_and_no_baseline_is_nan():
    losses = np.ones(30)
    losses[11:] = 2.0  # never comes back after the event at 11
    out = burst_metrics(losses, [5, 11])
    assert np.isnan(out["excess_loss"].iloc[0]) and np.isnan(out["recovery_time"].iloc[0])  # 4 < B = 10 earlier steps
    assert out["recovery_time"].iloc[1] == np.inf
    assert out["excess_loss"].iloc[1] == 19.0  # H = 30 - 11 = 19 steps, each 1 above


def test_spike_count_curve_and_run_summary():
    assert spike_count_curve([3.0, 1.0, np.nan, 1.5], (1.25, 1.5, 2, 3, 5)) == {1.25: 2, 1.5: 2, 2.0: 1, 3.0: 1, 5.0: 0}
    summary = burst_summary(burst_metrics(_series(), [11, 21]))
    assert summary["excess_loss_median"] == 1.75 and summary["recovery_time_median"] == 2.0
    assert summary["spike_count@1.25"] == 1 and summary["spike_count@5"] == 0


def test_run_statistics_keep_spec4_columns_and_add_burst_columns():
    rule = {"window": 20, "tau": 1.5, "baseline": 10, "rho": 1.5, "delta": 0.5}
    stats = spike_statistics(_series(), [11, 21], rule)
    assert stats["spike_count"] == 1 and stats["spike_count@1.5"] == stats["spike_count"]
    assert stats["excess_loss_median"] == 1.75
    plain = spike_statistics(_series(), [], rule)
    assert np.isnan(plain["excess_loss_median"]) and np.isnan(plain["spike_count@2"])
