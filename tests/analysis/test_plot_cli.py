"""``muonlab plot DIR [--out PLOTDIR]`` (SPEC 5, issue 11): writes the standard figures,
into DIR/plots/ by default; an unwritable target is one line naming ``--out``, exit 2."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from muonlab.cli import main


def test_plot_writes_into_dir_plots_or_out(study_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study"
    shutil.copytree(study_dirs["awbt_plain"], study)
    assert main(["plot", str(study)]) == 0
    assert sorted(p.name for p in (study / "plots").iterdir()) == ["loss.png"]
    assert main(["plot", str(study), "--out", str(tmp_path / "elsewhere" / "figs")]) == 0
    assert (tmp_path / "elsewhere" / "figs" / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert f"written: {tmp_path / 'elsewhere' / 'figs' / 'loss.png'}" in capsys.readouterr().out


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("muonlab: error: cannot write plots into "), err
    assert "--out PLOTDIR" in err
    return err


def test_unwritable_out_is_one_line_and_exit_2(study_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # /proc refuses new directories whoever runs the test (root included)
    assert main(["plot", str(study_dirs["awbt_plain"]), "--out", "/proc/muonlab-plots"]) == 2
    _one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_study_dir_is_one_line_and_exit_2(study_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    study = tmp_path / "study"
    shutil.copytree(study_dirs["awbt_plain"], study)
    study.chmod(0o555)
    try:
        assert main(["plot", str(study)]) == 2
        _one_error_line(capsys)
        assert not (study / "plots").exists()
    finally:
        study.chmod(0o755)
