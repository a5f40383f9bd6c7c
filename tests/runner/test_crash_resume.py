"""Crash safety (SPEC 7): ``python -m muonlab run`` killed with SIGKILL mid-study, then
``--resume``, completes the study with files byte-identical to an uninterrupted run
(the manifest's start/end times aside), with no leftover temporary files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from muonlab.cli import main
from muonlab.runner import parse_study, run_study

# 8 runs of 150 steps (about a second): long enough to be killed in the middle.
STUDY_TEXT = """
seeds = 2
steps = 150
every = 5

[problem]
name = "awbt"
d = 8
kappa = 100.0
fix_V = [true, false]

[injection]
K_out = 25
s = 2

[[optimizers]]
name = "normuon"
lr = 0.01

[[optimizers]]
name = "trasmuon"
lr = 0.01
"""
REPO = Path(__file__).resolve().parents[2]


def tree(out: Path) -> dict[str, bytes]:
    """Every file of a study directory but the manifest and the CLI's report (table,
    plots), by relative path."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and p.parts[len(out.parts)] != "plots" and not p.name.startswith("table.")
    }


def manifest_without_times(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    return {k: v for k, v in manifest.items() if k not in ("started", "finished")}


def test_sigkill_then_resume_equals_uninterrupted(tmp_path: Path) -> None:
    study_path = tmp_path / "study.toml"
    study_path.write_text(STUDY_TEXT)
    reference = tmp_path / "reference"
    run_study(parse_study(STUDY_TEXT, default_name="study"), reference, progress=False)

    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "muonlab", "run", str(study_path), "--out", str(out), "--no-progress"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        runs = out / "runs"
        while not (runs.is_dir() and any(p.suffix == ".csv" for p in runs.iterdir())):
            assert driver.poll() is None, "the study ended before it could be killed"
            time.sleep(0.002)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait()
    assert driver.returncode == -signal.SIGKILL
    killed = json.loads((out / "manifest.json").read_text())
    assert killed["finished"] is None
    assert len(killed["runs"]) < killed["total_runs"]  # it really stopped mid-study

    assert main(["run", str(study_path), "--out", str(out), "--resume", "--no-progress"]) == 0
    assert tree(out) == tree(reference)
    assert manifest_without_times(out) == manifest_without_times(reference)
    assert json.loads((out / "manifest.json").read_text())["started"] == killed["started"]
