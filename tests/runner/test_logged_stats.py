"""The run loop computes optimizer statistics only at the steps it logs (``want_stats``):
the trajectory and the logged rows are those of a run that logs every step."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from muonlab.runner import parse_study, run

run_module = importlib.import_module("muonlab.runner.run")  # the module (the package exports run())

STUDY = """
seeds = 1
steps = 12
every = {every}
[problem]
name = "awbt"
d = 8
kappa = 100.0
[[optimizers]]
name = "{optimizer}"
lr = 0.01
"""


def _run(optimizer: str, every: int):
    (config,) = parse_study(STUDY.format(every=every, optimizer=optimizer)).runs()
    return run(config)


@pytest.mark.parametrize("optimizer", ["sf-adamw", "trasmuon"])
def test_rows_equal_those_of_a_run_logging_every_step(optimizer: str) -> None:
    every_step, sparse = _run(optimizer, 1), _run(optimizer, 5)
    steps = sparse.columns["step"]
    assert list(steps) == [5, 10, 12]
    assert every_step.summary["final_loss"] == sparse.summary["final_loss"]
    for key, column in sparse.columns.items():
        assert np.array_equal(column, every_step.columns[key][steps - 1], equal_nan=True), key


def test_the_loop_asks_for_statistics_at_logged_steps_only(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[bool] = []
    original = run_module.want_stats

    def recording(optimizer, wanted: bool) -> None:
        asked.append(wanted)
        original(optimizer, wanted)

    monkeypatch.setattr(run_module, "want_stats", recording)
    result = _run("sf-adamw", 5)
    assert asked == [t in (5, 10, 12) for t in range(1, 13)]
    assert np.isfinite(result.columns["update_rms"]).all()
