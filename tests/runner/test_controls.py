"""Study controls (SPEC 11): expansion, labels and shared seeds; matched-step lr hits the
treatment's update RMS within 5% on AWB-T, measured from the runs' own CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from muonlab.cli import main
from muonlab.runner import ConfigError, load_study_config, run_study
from muonlab.runner.config import parse_study
from muonlab.runner.controls import MATCH_TOLERANCE, solve_matched_lr

BASE = """
seeds = 3
steps = 60
every = 2
batch_seeds = {batch}

[problem]
name = "awbt"
d = 8
kappa = 100.0
fix_V = [true, false]

[injection]
K_out = 20
s = 2

[[optimizers]]
name = "trasmuon-noclip"
label = "NOCLIP"
lr = 0.01

[[optimizers]]
name = "trasmuon-clip-only"
label = "Clip"
lr = 0.01
"""


def test_no_injection_and_lr_grid_expand_with_shared_seeds():
    study = parse_study(BASE.format(batch="false") + "\n[controls]\nno_injection = true\nlr_grid = [1e-3, 3e-3]\n")
    runs = study.runs()
    # 2 fix_V cells x 2 optimizers x 2 lrs x 3 seeds, each with and without injection.
    assert len(runs) == 2 * 2 * 2 * 3 * 2
    plain = [r for r in runs if r.control == "none"]
    controls = [r for r in runs if r.control == "no_injection"]
    assert len(plain) == len(controls) == 24
    assert all(r.injection is not None for r in plain) and all(r.injection is None for r in controls)
    assert {dict(r.hparams)["lr"] for r in runs} == {1e-3, 3e-3}
    for r, c in zip(plain, controls):
        assert (r.label, r.seed, r.settings, r.hparams) == (c.label, c.seed, c.settings, c.hparams)
    assert len({r.run_id for r in runs}) == len(runs)
    assert study.swept_hparams() == ("lr",)


@pytest.mark.parametrize("table, message", [
    ('baseline = "Nope"', "controls.baseline: 'Nope' is not an optimizer label"),
    ("matched_step = true", "controls.baseline: missing"),
    ('baseline = "NOCLIP"\nmatched_step = ["NOCLIP"]', "controls.matched_step: 'NOCLIP' is not a treatment label"),
    ("lr_grid = [0.0]", "controls.lr_grid: expected a list of numbers > 0"),
    ("colour = 1", "controls.colour: unknown key"),
])
def test_bad_controls_name_the_key(table, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_study(BASE.format(batch="false") + "\n[controls]\n" + table + "\n")


def test_solve_matched_lr_on_a_power_law():
    # rms = 2 lr^0.7 (not proportional): the solver must still land within its aim.
    lr, rms, probes = solve_matched_lr(lambda lr: 2 * lr**0.7, target=0.05, lr0=0.01, rms0=2 * 0.01**0.7)
    assert abs(rms / 0.05 - 1) <= 0.01 and abs(2 * lr**0.7 / 0.05 - 1) <= 0.01 and probes <= 6


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _median_rms(out: Path, run_id: str) -> float:
    return float(np.median([float(r["update_rms"]) for r in _rows(out / "runs" / f"{run_id}.csv")]))


@pytest.mark.parametrize("batch", ["true", "false"])
def test_matched_step_hits_the_treatment_update_rms(tmp_path, batch):
    text = BASE.format(batch=batch) + '\n[controls]\nbaseline = "NOCLIP"\nno_injection = true\nmatched_step = true\n'
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out), "--no-progress"]) == 0
    summary = _rows(out / "summary.csv")
    # 2 cells x 2 arms x 3 seeds, the same without injection, and 2 cells x 3 seeds matched.
    assert len(summary) == 12 + 12 + 6
    assert {r["control"] for r in summary} == {"none", "no_injection", "matched_step"}
    matched = [r for r in summary if r["control"] == "matched_step"]
    assert {(r["optimizer"], r["matched_to"]) for r in matched} == {("NOCLIP", "Clip")}
    assert sorted(int(r["seed"]) for r in matched) == [0, 0, 1, 1, 2, 2]
    for fix_v in ("True", "False"):
        treatment = [r for r in summary if r["control"] == "none" and r["optimizer"] == "Clip" and r["fix_V"] == fix_v]
        baseline = [r for r in matched if r["fix_V"] == fix_v]
        target = np.median([_median_rms(out, r["run_id"]) for r in treatment])
        achieved = np.median([_median_rms(out, r["run_id"]) for r in baseline])
        assert abs(achieved / target - 1) <= MATCH_TOLERANCE
        assert float(baseline[0]["lr"]) < 0.01  # the clip lowers the step: a smaller lr
    table = _rows(out / "matched_step.csv")
    assert len(table) == 2 and all(abs(float(r["ratio"]) - 1) <= MATCH_TOLERANCE for r in table)


def test_tuning_seeds_must_be_disjoint_and_rule_known():
    with pytest.raises(ConfigError, match=r"tuning.seeds: must be disjoint from the evaluation seeds; shared: \[1\]"):
        parse_study(BASE.format(batch="false") + '\n[tuning]\nlr = [1e-3, 1e-2]\nseeds = [1, 7]\nrule = "median_final_loss"\n')
    with pytest.raises(ConfigError, match="tuning.rule: must be one of median_final_loss, median_best_loss"):
        parse_study(BASE.format(batch="false") + '\n[tuning]\nlr = [1e-3, 1e-2]\nseeds = [7]\nrule = "best"\n')


def test_tuning_selects_per_optimizer_on_tuning_seeds_and_evaluates_on_fresh_ones(tmp_path):
    text = BASE.format(batch="true") + '\n[tuning]\nlr = [1e-3, 3e-2]\nseeds = [10, 11]\nrule = "median_final_loss"\n'
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.toml"), "--out", str(out), "--no-progress"]) == 0
    table = _rows(out / "tuning.csv")
    assert [(r["optimizer"], float(r["lr"])) for r in table] == [
        ("NOCLIP", 1e-3), ("NOCLIP", 3e-2), ("Clip", 1e-3), ("Clip", 3e-2)]
    # The selection is the lr with the lower median final loss over 2 cells x 2 tuning
    # seeds, recomputed here from independent runs of the tuning configuration.
    for label in ("NOCLIP", "Clip"):
        rows = [r for r in table if r["optimizer"] == label]
        best = min(rows, key=lambda r: float(r["score"]))
        assert [r["selected"] for r in rows] == [str(r is best) for r in rows]
    summary = _rows(out / "summary.csv")
    assert sorted({int(r["seed"]) for r in summary}) == [0, 1, 2]  # evaluation seeds only
    check = parse_study(BASE.format(batch="true").replace("seeds = 3", "seeds = [10, 11]").replace("lr = 0.01", "lr = 0.001"))
    run_study(check, tmp_path / "check", progress=False)
    noclip = [r for r in _rows(tmp_path / "check" / "summary.csv") if r["optimizer"] == "NOCLIP"]
    # summary.csv holds each float32 loss as its shortest text: read it back as float32.
    score = float(np.median([float(np.float32(r["final_loss"])) for r in noclip]))
    assert float(next(r["score"] for r in table if r["optimizer"] == "NOCLIP" and float(r["lr"]) == 1e-3)) == score
