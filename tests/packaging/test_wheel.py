"""Installed, not cloned (issue 17): ``python -m build`` makes an sdist and a wheel that
``twine check`` accepts; the wheel, installed into a fresh virtual environment outside
the checkout, lists the shipped studies and runs one by name.

The fresh venv reuses this environment's third-party packages (torch, ...) through a
``.pth`` line pointing at their site-packages, so nothing is downloaded; a ``.pth`` file
reached that way is not executed, so this environment's editable muonlab stays invisible
and ``muonlab`` must come from the wheel (checked through ``muonlab.__file__``).
Select with ``-m packaging``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.packaging


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel built from the unpacked sdist (build's default), so
    # the wheel test also proves the sdist carries everything.
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)], cwd=ROOT)
    return out


def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(dist: Path) -> None:
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1
    _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)], cwd=dist)


def test_wheel_outside_the_checkout_runs_a_shipped_study_by_name(dist: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path).stdout.strip())
    (site / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = dist.glob("*.whl")
    environ = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel)], cwd=tmp_path, env=environ)

    where = _run([str(python), "-c", "import muonlab; print(muonlab.__file__, muonlab.__version__)"], cwd=tmp_path, env=environ).stdout
    assert where.startswith(str(site)), where
    muonlab = str(env_dir / "bin" / "muonlab")
    studies = _run([muonlab, "studies"], cwd=tmp_path, env=environ).stdout
    assert "awbt_ablation " in studies and "awbt_quick " in studies

    _run([muonlab, "run", "awbt_quick", "--out", "out", "--no-progress"], cwd=tmp_path, env=environ)
    summary = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert len(summary) == 8 and {row["status"] for row in summary} == {"done"}

    _run([muonlab, "init", "awbt_ablation", "mine.toml"], cwd=tmp_path, env=environ)
    assert (tmp_path / "mine.toml").read_text() == (ROOT / "studies" / "awbt_ablation.toml").read_text()

    # Claims ship too (muonlab.claim_files) and run by the shipped names, outside the checkout.
    _run([muonlab, "claims", "--quick", "--only", "t11-closed-loop", "--out", "claims"], cwd=tmp_path, env=environ)
    rows = list(csv.DictReader((tmp_path / "claims" / "claims.csv").open()))
    assert [row["id"] for row in rows] == ["t11-closed-loop"]
    assert rows[0]["verdict"] in ("supported", "not supported", "inconclusive")
    assert (tmp_path / "claims" / "report.html").is_file()
