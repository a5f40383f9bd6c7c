"""The example plugin package (examples/plugin, issue 17): installed into the test
environment like any third-party package, its optimizer (Lion) and problem
(teacher_regression) run through the CLI next to built-ins with diagnostics on, and
``muonlab list`` shows them. Lion is checked against a float64 transcription of its
equations."""

from __future__ import annotations

import csv
import importlib
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "plugin"
MUONLAB = [sys.executable, "-m", "muonlab"]


@pytest.fixture(scope="module")
def installed() -> None:
    """``pip install -e examples/plugin`` into this environment (no network: no deps,
    no build isolation)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    # An editable install becomes importable through a .pth file, which this already
    # running interpreter read at start-up: read the site directory's .pth files again.
    site.addsitedir(sysconfig.get_paths()["purelib"])
    importlib.invalidate_caches()


def lion_reference(theta: np.ndarray, grads: list[np.ndarray], lr: float, beta1: float, beta2: float, wd: float) -> list[np.ndarray]:
    """Lion (Chen et al. 2023, Algorithm 2) in float64, one iterate per gradient."""
    m = np.zeros_like(theta)
    out = []
    for g in grads:
        c = beta1 * m + (1 - beta1) * g
        theta = theta - lr * (np.sign(c) + wd * theta)
        m = beta2 * m + (1 - beta2) * g
        out.append(theta.copy())
    return out


def test_lion_matches_its_equations(installed: None) -> None:
    from muonlab_example import Lion

    gen = torch.Generator().manual_seed(0)
    theta0 = torch.randn(5, 7, generator=gen, dtype=torch.float64)
    grads = [torch.randn(5, 7, generator=gen, dtype=torch.float64) for _ in range(50)]
    p = torch.nn.Parameter(theta0.clone())
    opt = Lion([p], lr=1e-2, betas=(0.8, 0.95), weight_decay=0.1)
    expected = lion_reference(theta0.numpy(), [g.numpy() for g in grads], 1e-2, 0.8, 0.95, 0.1)
    for g, want in zip(grads, expected):
        p.grad = g.clone()
        opt.step()
        # float64 both sides, same operations up to order; bound: 50 steps x <= 20 roundings
        # of entries |theta| <= 1 (eps_f64 = 2**-52 each).
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=0, atol=1e3 * 2.0**-52)


def _muonlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MUONLAB, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_list_shows_the_plugins(installed: None, tmp_path: Path) -> None:
    listing = _muonlab("list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "lion  [muonlab_example.lion:Lion]" in listing.stdout
    assert "lr=0.0001 betas=(0.9, 0.99) weight_decay=0.0" in listing.stdout
    assert "teacher_regression: teacher-student linear regression" in listing.stdout
    assert "d_in=16: int >= 1" in listing.stdout


def test_plugin_study_through_the_cli(installed: None, tmp_path: Path) -> None:
    study = tmp_path / "study.toml"
    shutil.copyfile(PLUGIN / "study.toml", study)
    out = tmp_path / "out"
    done = _muonlab("run", str(study), "--out", str(out), "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = list(csv.DictReader((out / "summary.csv").open()))
    labels = {row["label"] if "label" in row else row["optimizer"] for row in summary}
    assert {row["status"] for row in summary} == {"done"}
    assert len(summary) == 8 and len(labels) == 4
    # The problem's known optimum gives rel_dist; every optimizer moves towards it.
    assert all(float(row["final_rel_dist"]) < 1.0 for row in summary)

    lion_run = next(row["run_id"] for row in summary if row["optimizer"] == "lion")
    rows = list(csv.DictReader((out / "runs" / f"{lion_run}.csv").open()))
    # Diagnostics on: every key of the study's [diagnostics] has its columns.
    for column in ("step_size", "gram_r_avg", "r_dom", "r_bulk", "full_loss", "rel_dist"):
        assert column in rows[0], column
    assert any(np.isfinite(float(r["r_dom"])) for r in rows)
    # Lion moves every coordinate by exactly lr (weight_decay = 0, sign(c) = +-1): the
    # runner's update_rms (parameter deltas at logged steps) must equal lr. float32
    # deltas of entries |theta| <= 2 carry <= 2 * 2**-24 absolute error each, i.e. a bound
    # of ~1e-5 relative to lr = 2e-2 (plus the rms' own rounding).
    rms = np.array([float(r["update_rms"]) for r in rows])
    np.testing.assert_allclose(rms, 2e-2, rtol=1e-4)
    # ...and equal the step_size diagnostic, computed separately (T F.2).
    np.testing.assert_allclose(rms, [float(r["step_size"]) for r in rows], rtol=1e-4)


def test_plugin_runs_are_reproducible(installed: None, tmp_path: Path) -> None:
    """Same config and seed, same numbers: the plugin problem draws from (seed, step)."""
    script = (
        "import sys, numpy as np\n"
        "from muonlab.runner import parse_study, run\n"
        "study = parse_study(open(sys.argv[1]).read())\n"
        "for config in study.runs()[::2]:\n"
        "    a, b = run(config), run(config)\n"
        "    assert a.status == b.status == 'done'\n"
        "    assert a.columns.keys() == b.columns.keys()\n"
        "    assert all(np.array_equal(a.columns[k], b.columns[k], equal_nan=True) for k in a.columns), config.label\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(PLUGIN / "study.toml")], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
