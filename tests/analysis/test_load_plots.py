"""load_study round trip and the standard plots (SPEC 6)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from muonlab.analysis import load_study, plot_study, write_table
from muonlab.runner import parse_study, run_study

STUDY = """
seeds = 2
steps = 80
every = 2
[problem]
name = "awbt"
d = 8
fix_V = [true, false]
[injection]
K_out = 20
[[optimizers]]
name = "trasmuon-noclip"
lr = 0.01
[[optimizers]]
name = "trasmuon"
lr = 0.01
"""


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("study") / "out"
    run_study(parse_study(STUDY, default_name="plots"), out, progress=False)
    (out / "study.toml").write_text(STUDY)
    return out


def test_load_study_round_trip(study_dir: Path) -> None:
    study = load_study(study_dir)
    with open(study_dir / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(study.summary["run_id"]) == [r["run_id"] for r in rows]
    for (_, got), row in zip(study.summary.iterrows(), rows):
        assert got["final_loss"] == float(row["final_loss"])
        assert got["seed"] == int(row["seed"])
    assert study.optimizers == ["trasmuon-noclip", "trasmuon"]
    assert study.swept == ["fix_V"] and study.swept_settings == ["fix_V"] and study.swept_hparams == []
    assert len(study.steps) == 8 * 40
    assert {"optimizer", "seed", "fix_V", "loss", "c_used_min"} <= set(study.steps.columns)
    one = study.steps[study.steps["run_id"] == rows[0]["run_id"]]
    with open(study_dir / "runs" / f"{rows[0]['run_id']}.csv", newline="") as f:
        raw = list(csv.DictReader(f))
    np.testing.assert_array_equal(one["loss"].to_numpy(), [float(r["loss"]) for r in raw])
    assert len(study.events) == 8 * 4
    assert study.manifest["total_runs"] == 8 and study.config["problem"]["d"] == 8


def test_table_files_written(study_dir: Path) -> None:
    result = write_table(load_study(study_dir))
    assert (study_dir / "table.md").read_text() == result.markdown
    assert list(result.cells.columns) == ["fix_V", "optimizer", "runs", "spike_count", "final_loss"]
    assert (study_dir / "table.csv").read_text().startswith("fix_V,optimizer,runs,diverged,failed,spike_count_median")


def test_standard_plots_are_non_empty_pngs(study_dir: Path) -> None:
    paths = plot_study(load_study(study_dir))
    assert [p.name for p in paths] == ["loss.png", "event_window.png", "closed_loop.png", "spike_count_rho.png",
                                       "closed_loop_columns.png"]
    for path in paths:
        assert path.parent == study_dir / "plots"
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
