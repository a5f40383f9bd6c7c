"""Diagnostics plots (SPEC 6): ``plot_study`` writes them when the columns exist."""

from __future__ import annotations

from pathlib import Path

import torch

from muonlab.analysis import load_spectra, load_study, plot_spectral_density, plot_study
from muonlab.diagnostics import MatrixOperator, slq_density
from muonlab.runner import parse_study, run_study

STUDY = """
seeds = 2
steps = 16
every = 4
[problem]
name = "river_valley"
m = 3
n = 3
rotated = true
noise = "gaussian"
noise_std = 0.1
[diagnostics]
dom_bulk = { k = 3, every = 8, refresh = 8, vectors = ["update", "momentum"] }
gram = { every = 8 }
spectrum = { n_probes = 2, n_steps = 6, grid = 50 }
[[optimizers]]
name = "sgd"
[[optimizers]]
name = "muon"
"""


def test_plot_study_writes_the_diagnostics_plots(tmp_path: Path) -> None:
    run_study(parse_study(STUDY), tmp_path / "out", progress=False)
    study = load_study(tmp_path / "out")
    spectra = load_spectra(study)
    assert sorted(spectra["optimizer"].unique()) == ["muon", "sgd"] and len(spectra) == 4 * 50
    paths = plot_study(study)
    names = {p.name for p in paths}
    assert {"dom_ratio.png", "gram_dominance.png", "spectral_density.png"} <= names
    assert all(p.is_file() and p.stat().st_size > 10_000 for p in paths)


def test_plot_study_without_diagnostics_adds_none(tmp_path: Path) -> None:
    plain = STUDY[: STUDY.index("[diagnostics]")] + STUDY[STUDY.index("[[optimizers]]"):]
    run_study(parse_study(plain), tmp_path / "out", progress=False)
    assert [p.name for p in plot_study(load_study(tmp_path / "out"))] == ["loss.png"]


def test_plot_spectral_density_of_a_result(tmp_path: Path) -> None:
    density = slq_density(MatrixOperator(torch.diag(torch.arange(1.0, 21.0, dtype=torch.float64))), n_probes=2, n_steps=20)
    fig = plot_spectral_density(density, label="diag(1..20)")
    fig.savefig(tmp_path / "density.png")
    assert (tmp_path / "density.png").stat().st_size > 10_000
