"""End-to-end studies (SPEC 5, 7): files and columns, byte-identical reruns, resume,
divergence and failure handling."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from muonlab.cli import main
from muonlab.runner import LocalBackend, load_study_config, run, run_study
from muonlab.runner import adapters
from muonlab.runner.adapters import Adapter
from muonlab.runner.cells import Cell, FinishedCell
from muonlab.runner.spikes import SPIKE_COLUMNS


def _files(out: Path) -> dict[str, bytes]:
    names = ["summary.csv", "events.csv", *(f"runs/{p.name}" for p in sorted((out / "runs").iterdir()))]
    return {name: (out / name).read_bytes() for name in names}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_tiny_study_writes_every_file_with_spec_columns(tmp_path: Path, tiny_study: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(tiny_study), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and "spike_count" in printed
    assert (out / "study.toml").read_text() == tiny_study.read_text()
    summary = _rows(out / "summary.csv")
    assert len(summary) == 2 * 2 * 2
    header = list(summary[0])
    assert header[:5] == ["run_id", "problem", "optimizer", "seed", "fix_V"]
    for column in ("status", "steps_done", "diverged_step", "final_loss", "best_loss", *SPIKE_COLUMNS, "final_rel_dist"):
        assert column in header
    assert {r["status"] for r in summary} == {"done"}
    assert {r["steps_done"] for r in summary} == {"60"}
    # study order: fix_V, then optimizer entries, then seeds
    assert [(r["fix_V"], r["optimizer"], r["seed"]) for r in summary[:4]] == [
        ("True", "normuon", "0"), ("True", "normuon", "1"), ("True", "trasmuon", "0"), ("True", "trasmuon", "1")
    ]  # fmt: skip
    for row in summary:
        steps = _rows(out / "runs" / f"{row['run_id']}.csv")
        assert [int(r["step"]) for r in steps] == list(range(3, 61, 3))
        assert {"run_id", "step", "loss", "update_rms", "rel_dist", "event"} <= set(steps[0])
        assert float(steps[-1]["loss"]) == float(row["final_loss"])
        # event rows: every 20 steps, each inside exactly one logged interval
        assert sum(int(r["event"]) for r in steps) == 3
        if row["optimizer"] == "trasmuon":
            assert {"r_q95", "r_max", "c_used_min"} <= set(steps[0])
    events = _rows(out / "events.csv")
    assert list(events[0]) == ["run_id", "step", "kind", "detail"]
    assert len(events) == 8 * 3 and {e["step"] for e in events} == {"20", "40", "60"}
    # common random numbers: every optimizer sees the same columns for a seed/fix_V
    by_run = {r["run_id"]: (r["fix_V"], r["seed"]) for r in summary}
    details: dict[tuple[str, str, str], set[str]] = {}
    for e in events:
        details.setdefault((*by_run[e["run_id"]], e["step"]), set()).add(e["detail"])
    assert all(len(v) == 1 for v in details.values())
    manifest = json.loads((out / "manifest.json").read_text())
    for key in ("muonlab", "torch", "numpy", "python", "device", "started", "finished", "spike_rule", "runs"):
        assert key in manifest
    assert [e["run_id"] for e in manifest["runs"]] == [r["run_id"] for r in summary]
    assert manifest["spike_rule"]["event_aligned"]["rho"] == 1.5


def test_same_study_twice_gives_identical_bytes(tmp_path: Path, tiny_study: Path) -> None:
    study = load_study_config(tiny_study)
    run_study(study, tmp_path / "a", progress=False)
    run_study(study, tmp_path / "b", progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


class _Killed(Exception):
    pass


class _DiesAfter:
    """A backend that stops the study (like a kill) after ``n`` cells (one run each in
    a study without ``batch_seeds``)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def run_cells(self, cells: Sequence[Cell]) -> Iterator[FinishedCell]:
        for i, finished in enumerate(LocalBackend().run_cells(cells)):
            if i == self.n:
                raise _Killed
            yield finished


class _Counting(LocalBackend):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def run_cells(self, cells: Sequence[Cell]) -> Iterator[FinishedCell]:
        self.seen.extend(c.run_id for cell in cells for c in cell.configs)
        yield from super().run_cells(cells)


def test_resume_skips_finished_runs_and_matches_uninterrupted(tmp_path: Path, tiny_study: Path) -> None:
    study = load_study_config(tiny_study)
    run_study(study, tmp_path / "full", progress=False)
    with pytest.raises(_Killed):
        run_study(study, tmp_path / "resumed", backend=_DiesAfter(3), progress=False)
    partial = _rows(tmp_path / "resumed" / "summary.csv")
    assert len(partial) == 3  # finished runs are on disk
    counting = _Counting()
    run_study(study, tmp_path / "resumed", backend=counting, resume=True, progress=False)
    assert len(counting.seen) == 8 - 3
    assert not {r["run_id"] for r in partial} & set(counting.seen)
    assert _files(tmp_path / "resumed") == _files(tmp_path / "full")


DIVERGING = """
seeds = 1
steps = 400
[problem]
name = "awbt"
d = 4
kappa = 1.0
[[optimizers]]
name = "sgd"
lr = 50.0
[[optimizers]]
name = "normuon"
lr = 0.01
"""


def test_divergence_is_recorded_and_the_study_continues(tmp_path: Path) -> None:
    path = tmp_path / "div.toml"
    path.write_text(DIVERGING)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    sgd, normuon = _rows(out / "summary.csv")
    assert sgd["status"] == "diverged" and normuon["status"] == "done"
    step = int(sgd["diverged_step"])
    assert 1 < step < 400 and int(sgd["steps_done"]) == step - 1
    rows = _rows(out / "runs" / f"{sgd['run_id']}.csv")
    assert int(rows[-1]["step"]) == step
    assert not np.isfinite(float(rows[-1]["loss"]))
    assert all(np.isfinite(float(r["loss"])) for r in rows[:-1])
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in manifest["runs"]] == ["diverged", "done"]


def test_a_failing_run_is_recorded_as_failed(tmp_path: Path, tiny_study: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = adapters.ADAPTERS["awbt"].build

    def flaky(seeds, device, dtype):
        if seeds.config.seed == 1 and seeds.config.optimizer == "trasmuon":
            raise RuntimeError("boom in the problem")
        return original(seeds, device, dtype)

    monkeypatch.setitem(adapters.ADAPTERS, "awbt", Adapter(flaky))
    report = run_study(load_study_config(tiny_study), tmp_path / "out", progress=False)
    assert report.statuses == {"done": 6, "diverged": 0, "failed": 2}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    failed = [e for e in manifest["runs"] if e["status"] == "failed"]
    assert len(failed) == 2 and all(e["error"] == "RuntimeError: boom in the problem" for e in failed)
    assert len(_rows(tmp_path / "out" / "summary.csv")) == 8
    assert not (tmp_path / "out" / "runs" / f"{failed[0]['run_id']}.csv").exists()


def test_run_is_pure_and_leaves_global_rng_alone(tiny_study: Path) -> None:
    import torch

    config = load_study_config(tiny_study).runs()[2]
    state = torch.get_rng_state()
    a, b = run(config), run(config)
    assert torch.equal(state, torch.get_rng_state())
    assert a.status == "done"
    np.testing.assert_equal(a.summary, b.summary)
    for key in a.columns:
        np.testing.assert_array_equal(a.columns[key], b.columns[key])


def test_process_pool_gives_the_same_bytes_as_in_process(tmp_path: Path, tiny_study: Path) -> None:
    study = load_study_config(tiny_study)
    run_study(study, tmp_path / "one", progress=False)
    run_study(study, tmp_path / "two", backend=LocalBackend(workers=2), progress=False)
    assert _files(tmp_path / "one") == _files(tmp_path / "two")


def test_a_study_whose_runs_all_fail_exits_1_with_one_line(tmp_path: Path, tiny_study: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Every run failed: exit 1 (not an empty table and 0), one line with the first error."""
    def broken(seeds, device, dtype):
        raise RuntimeError("boom in the problem")

    monkeypatch.setitem(adapters.ADAPTERS, "awbt", Adapter(broken))
    out = tmp_path / "out"
    assert main(["run", str(tiny_study), "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "8 runs: 8 failed" in captured.out and "|" not in captured.out
    assert captured.err.strip().splitlines() == [
        f"muonlab: error: every run failed (8 of 8); first error: RuntimeError: boom in the problem "
        f"(errors of all runs: {out / 'manifest.json'})"
    ]
    assert not (out / "table.md").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["status"] for e in manifest["runs"]} == {"failed"}
    assert main(["plot", str(out)]) == 0
