"""The ``muonlab`` command (SPEC 5): list, validate, table/plot on a study directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    from muonlab.runner.diagnostics_settings import DIAGNOSTICS, DomBulkSpec, SpectrumSpec

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
    assert main(["table", str(out), "--metric", "final_river_progress", "--by", "optimizer"]) == 0
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
