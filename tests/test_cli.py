"""The ``muonlab`` command (SPEC 5): list, validate, table/plot on a study directory."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from muonlab.cli import main

STUDY = """
seeds = 1
steps = 30
problem = "river_valley"
[[optimizers]]
name = "sgd"
[[optimizers]]
name = "muon"
"""


def test_list_shows_optimizers_problems_and_defaults(capsys) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for text in ("trasmuon-noclip", "rms_scale=0.2", "awbt", "kappa=10000.0", "fix_V=true", "river_valley", "digits", "[injection]", "K_out=50", "[spikes]"):
        assert text in out, text
    assert "momentum_hook=" not in out and "batched=" not in out


def test_list_shows_diagnostics_keys_and_defaults(capsys) -> None:
    from muonlab.runner.observers import DIAGNOSTICS
    from muonlab.runner.observers.dom_bulk import DomBulkSpec
    from muonlab.runner.observers.spectrum import SpectrumSpec

    assert main(["list"]) == 0
    out = capsys.readouterr().out.split("[diagnostics]", 1)[1]
    for key in DIAGNOSTICS:
        assert f"  {key}: " in out, key
    # The defaults shown are the ones a study gets (DomBulkSpec / SpectrumSpec).
    db, sp = DomBulkSpec(), SpectrumSpec()
    for text in (f"k={db.k}:", f"every={db.every}:", f"refresh={db.refresh}:", f"tol={db.tol}:",
                 f"max_iter={db.max_iter}:", 'vectors=["update"]:', f"n_probes={sp.n_probes}:", f"grid={sp.grid}:"):
        assert text in out, text


def test_validate_ok_writes_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(STUDY)
    assert main(["validate", str(path)]) == 0
    assert "ok: 2 runs" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.toml"]


def test_run_then_table_and_plot(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(STUDY)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    assert f"results: {out}" in capsys.readouterr().out
    assert main(["table", str(out), "--metric", "final_river_progress", "--by", "optimizer", "--write"]) == 0
    printed = capsys.readouterr().out
    assert "| optimizer | runs | final_river_progress |" in printed
    assert (out / "table.md").read_text() in printed
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "loss.png").stat().st_size > 0
    # resume of a finished study runs nothing
    assert main(["run", str(path), "--out", str(out), "--no-progress", "--resume"]) == 0
    assert "2 already finished" in capsys.readouterr().out


def test_table_of_a_missing_directory_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert main(["table", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("muonlab: error: ") and "summary.csv" in err[0]
    assert main(["table", str(tmp_path / "nope"), "--metric", "x"]) == 2


def test_python_dash_m_entry_point() -> None:
    done = subprocess.run([sys.executable, "-m", "muonlab", "validate", "/nonexistent.toml"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip() == "muonlab: error: /nonexistent.toml: no such study file"


TINY = """
seeds = 2
steps = 10
[problem]
name = "awbt"
d = 4
[[optimizers]]
name = "muon"
lr = [0.01, 0.02]
"""


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("muonlab: error: "), err
    assert "Traceback" not in err
    return lines[0]


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_no_arguments_prints_the_usage(capsys) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: muonlab") and "run,table,compare,plot,list,validate" in err


@pytest.mark.parametrize("out", ["/proc/muonlab-test/out", "FILE/out"])
def test_an_out_that_cannot_be_created_is_one_line(tmp_path: Path, capsys, out: str) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    (tmp_path / "FILE").write_text("x")
    out = out.replace("FILE", str(tmp_path / "FILE"))
    assert main(["run", str(path), "--out", out, "--no-progress"]) == 2
    assert f"--out: cannot create {out}" in _one_error_line(capsys.readouterr().err)
    assert not Path(out).exists() and sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "s.toml"]


def test_table_prints_and_writes_only_when_asked(tmp_path: Path, capsys) -> None:
    path = tmp_path / "s.toml"
    path.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    (out / "table.md").unlink()
    (out / "table.csv").unlink()
    capsys.readouterr()
    before = _tree(out)
    assert main(["table", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| optimizer | lr   | runs |" in printed and _tree(out) == before  # works on a read-only directory
    assert main(["table", str(out), "--metric", "optimizer"]) == 2
    assert "numeric columns: " in _one_error_line(capsys.readouterr().err)
    assert main(["table", str(out), "--out", "/proc/muonlab-test"]) == 2
    assert "--out: cannot write the table into /proc/muonlab-test" in _one_error_line(capsys.readouterr().err)
    assert _tree(out) == before
    elsewhere = tmp_path / "tables"
    assert main(["table", str(out), "--out", str(elsewhere)]) == 0
    assert (elsewhere / "table.md").read_text() in capsys.readouterr().out
    assert main(["table", str(out), "--write"]) == 0
    assert (out / "table.md").read_text() == (elsewhere / "table.md").read_text()


def test_ctrl_c_is_one_line_with_the_resume_command(tmp_path: Path) -> None:
    """SIGINT once a run is recorded: exit 130, one line naming what finished and the
    exact --resume command, which then finishes the study."""
    path = tmp_path / "s.toml"
    # 6 runs of about a second each, so the signal arrives while one is running
    path.write_text(TINY.replace("steps = 10", "steps = 2000").replace("d = 4", "d = 8").replace("seeds = 2", "seeds = 3"))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "muonlab", "run", str(path), "--out", str(out), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 300
    while not (manifest.is_file() and json.loads(manifest.read_text())["runs"]) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    line = err.strip().splitlines()[-1]
    finished = len(json.loads(manifest.read_text())["runs"])
    resume = f"muonlab run {path} --out {out} --resume"
    assert line == f"muonlab: interrupted: {finished} of 6 runs finished and recorded in {out}; continue with: {resume}"
    assert 1 <= finished < 6
    done = subprocess.run([sys.executable, "-m", "muonlab", *resume.split()[1:], "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0 and f"6 runs ({finished} already finished)" in done.stdout
