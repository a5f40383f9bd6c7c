"""Per-column event-triggered averages (SPEC 11) on a synthetic trace with a known
response: the injected columns drop by 0.4 three steps after each event, the other
columns stay flat, nothing happens at the placebo steps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from muonlab.analysis import load
from muonlab.analysis.closed_loop import event_triggered, response, response_summary
from muonlab.analysis.plots_evidence import plot_closed_loop_columns, plot_spike_rho

K = 20
EVENTS = [20, 40, 60, 80]


def _trace(seed: int) -> pd.DataFrame:
    steps = np.arange(1, 101)
    c_j = np.full(steps.size, np.nan)
    c_next = np.full(steps.size, 0.9)
    for e in EVENTS:
        after = (steps >= e) & (steps < e + K)
        # c_J: 0.9 at the event, 0.5 from 3 steps after it, back to 0.9 by the next event.
        c_j[after] = np.where(steps[after] - e >= 3, 0.5, 0.9)
    c_next[steps >= EVENTS[-1]] = np.nan  # no next event after the last one
    return pd.DataFrame({"run_id": f"r{seed}", "step": steps, "loss": 1.0, "c_J": c_j, "c_Jnext": c_next,
                         "c_other": 0.8, "problem": "awbt", "optimizer": "Clip", "seed": seed})


def _study(tmp_path) -> load.Study:
    steps = pd.concat([_trace(s) for s in range(3)], ignore_index=True)
    summary = pd.DataFrame({"run_id": [f"r{s}" for s in range(3)], "problem": "awbt", "optimizer": "Clip",
                            "seed": range(3), "status": "done", "spike_count@1.5": [1, 2, 3],
                            "spike_count@3": [0, 1, 1]})
    events = pd.DataFrame([(f"r{s}", e, "injection", "columns 0 1") for s in range(3) for e in EVENTS],
                          columns=["run_id", "step", "kind", "detail"])
    return load.Study(path=tmp_path, summary=summary, steps=steps, events=events, manifest={},
                      config={"problem": {"name": "awbt"}})


def test_known_response_drop_and_lag(tmp_path):
    study = _study(tmp_path)
    per_run = response(event_triggered(study)).set_index(["run_id", "kind"])
    for s in range(3):
        assert per_run.loc[(f"r{s}", "injected"), "drop"] == pytest.approx(0.4, abs=1e-12)
        assert per_run.loc[(f"r{s}", "injected"), "lag"] == 3
        assert per_run.loc[(f"r{s}", "other"), "drop"] == 0.0
        assert per_run.loc[(f"r{s}", "placebo"), "drop"] == 0.0
    summary = response_summary(study).set_index("kind")
    assert summary.loc["injected", "drop"] == pytest.approx(0.4, abs=1e-12)


def test_event_window_offsets(tmp_path):
    traces = event_triggered(_study(tmp_path))
    injected = traces[(traces["run_id"] == "r0") & (traces["kind"] == "injected")]
    assert injected["k"].min() == -K // 2 and injected["k"].max() == K // 2 - 1
    # Before the event the injected set is the next event's columns: c_Jnext = 0.9.
    assert (injected[injected["k"] < 0]["c"] == 0.9).all()


def test_evidence_plots_draw_every_series(tmp_path):
    study = _study(tmp_path)
    loop = plot_closed_loop_columns(study)
    assert [line.get_label() for line in loop.axes[0].get_lines()[:3]] == [
        "injected columns (event at 0)", "other columns", "placebo: next event's columns half-way between events"]
    rho = plot_spike_rho(study)
    # One optimizer: its median counts over the 5 thresholds of the grid (2 columns here).
    assert list(rho.axes[0].get_lines()[0].get_ydata()) == [2.0, 1.0]
