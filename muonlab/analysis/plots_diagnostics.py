"""Plots of the run diagnostics (SPEC 6): dominant ratio over steps (AMUSE Fig. 2), Gram
diagonal dominance over steps (RMNP Fig. 3-4) and the Hessian spectral density.

Study plots take a loaded :class:`~muonlab.analysis.load.Study`, write one PNG into
``DIR/plots/`` and return its path; curves are the median over seeds per optimizer with
the interquartile band; panels are the combinations of swept problem settings.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from muonlab.diagnostics import SpectralDensity  # noqa: E402

from .load import Study  # noqa: E402
from .plots import _figure, _median_band, _panels, _save, _series  # noqa: E402

# CSV columns of the dominant ratio per tracked vector (muonlab.runner.observers).
DOM_COLUMNS = {"update": "r_dom", "gradient": "r_dom_gradient", "momentum": "r_dom_momentum"}
GRAM_COLUMNS = {"gram_r_avg": "r_avg (mean over rows)", "gram_r_min": "r_min", "gram_r_max": "r_max"}
SPECTRUM_SUFFIX = ".spectrum.csv"


def _observed(study: Study, column: str) -> pd.DataFrame:
    """The logged rows where ``column`` was recorded (observation steps)."""
    steps = study.steps
    return steps[steps[column].notna()] if column in steps.columns else steps.iloc[:0]


def _band_plot(ax: plt.Axes, study: Study, rows: pd.DataFrame, column: str) -> None:
    palette = plt.get_cmap("tab10")
    for i, (label, part) in enumerate(_series(study, rows)):
        band = _median_band(part, column)
        color = palette(i % 10)
        ax.plot(band.index, band["median"], color=color, label=label, linewidth=1.3)
        ax.fill_between(band.index, band["q25"], band["q75"], color=color, alpha=0.2, linewidth=0)


def plot_dom_ratio(study: Study) -> Path:
    """Dominant ratio ``r_dom = ||Q Q^T v|| / ||v||`` over steps per optimizer (AMUSE
    Fig. 2), one column of panels per tracked vector (update, gradient, momentum)."""
    vectors = [v for v, c in DOM_COLUMNS.items() if c in study.steps.columns and study.steps[c].notna().any()]
    panels = list(_panels(study, _observed(study, DOM_COLUMNS[vectors[0]])))
    fig, axes = _figure(len(panels), len(vectors))
    for row, (title, rows) in enumerate(panels):
        for col, vector in enumerate(vectors):
            ax = axes[row, col]
            column = DOM_COLUMNS[vector]
            _band_plot(ax, study, rows[rows[column].notna()], column)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{title}: {vector}")
            ax.set_xlabel("step")
            ax.set_ylabel(f"{column} = ||QQ^T v|| / ||v||")
    # The update is tracked for every optimizer (momentum may be NaN for some).
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(f"{study.name}: dominant ratio, median and IQR over seeds")
    return _save(fig, study, "dom_ratio.png")


def plot_gram_dominance(study: Study) -> Path:
    """Gram diagonal dominance of the momenta over steps (RMNP Fig. 3-4): ``r_avg``,
    ``r_min``, ``r_max`` averaged over matrix parameters, log scale."""
    rows_all = _observed(study, "gram_r_avg")
    panels = list(_panels(study, rows_all))
    fig, axes = _figure(len(panels), len(GRAM_COLUMNS))
    for row, (title, rows) in enumerate(panels):
        for col, (column, name) in enumerate(GRAM_COLUMNS.items()):
            ax = axes[row, col]
            finite = rows[np.isfinite(rows[column])]
            _band_plot(ax, study, finite, column)
            ax.set_yscale("log")
            ax.set_title(f"{title}: {name}")
            ax.set_xlabel("step")
            ax.set_ylabel("G_ii / mean_j|G_ij|, G = V V^T")
    axes[0, -1].legend(fontsize="small")
    fig.suptitle(f"{study.name}: Gram diagonal dominance of the momentum, median and IQR over seeds")
    return _save(fig, study, "gram_dominance.png")


def plot_spectral_density(density: SpectralDensity, path: str | Path, *, label: str = "") -> Path:
    """One SLQ density (:func:`muonlab.diagnostics.slq_density`) on a log scale, with
    its quadrature nodes as a rug; written to ``path``."""
    path = Path(path)
    fig, axes = _figure(1, 1)
    ax = axes[0, 0]
    ax.plot(density.grid.numpy(), density.density.numpy(), linewidth=1.3, label=label or None)
    nodes = np.concatenate([n.numpy() for n in density.nodes])
    ax.plot(nodes, np.zeros_like(nodes), "|", color="0.3", markersize=8, label="quadrature nodes")
    _density_axes(ax, f"Hessian spectral density (SLQ, sigma = {density.sigma:.2g})")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _density_axes(ax: plt.Axes, title: str) -> None:
    ax.set_yscale("symlog", linthresh=1e-4)
    ax.set_xlabel("Hessian eigenvalue")
    ax.set_ylabel("density (integrates to 1)")
    ax.set_title(title)


def load_spectra(study: Study) -> pd.DataFrame:
    """``runs/<run_id>.spectrum.csv`` of every run that has one, joined with the run's
    optimizer, seed and swept columns (empty when the study recorded no spectrum)."""
    frames = [
        pd.read_csv(study.path / "runs" / f"{run_id}{SPECTRUM_SUFFIX}", dtype={"run_id": str})
        for run_id in study.summary["run_id"]
        if (study.path / "runs" / f"{run_id}{SPECTRUM_SUFFIX}").is_file()
    ]
    if not frames:
        return pd.DataFrame(columns=["run_id", "eigenvalue", "density"])
    identity = study.summary[["run_id", "optimizer", "seed", *study.swept]]
    return pd.concat(frames, ignore_index=True).merge(identity, on="run_id", how="left")


def _median_density(part: pd.DataFrame, grid: np.ndarray) -> np.ndarray:
    """Median over runs of each run's density interpolated on ``grid`` (0 outside its own)."""
    curves = [np.interp(grid, r["eigenvalue"], r["density"], left=0.0, right=0.0) for _, r in part.groupby("run_id")]
    return np.median(np.stack(curves), axis=0)


def plot_spectra(study: Study, *, points: int = 600) -> Path:
    """End-of-run Hessian spectral densities (SLQ), median over seeds per optimizer on a
    common grid spanning every run's grid."""
    spectra = load_spectra(study)
    panels = list(_panels(study, spectra))
    fig, axes = _figure(1, len(panels))
    palette = plt.get_cmap("tab10")
    for ax, (title, rows) in zip(axes[0], panels):
        grid = np.linspace(rows["eigenvalue"].min(), rows["eigenvalue"].max(), points)
        for i, (label, part) in enumerate(_series(study, rows)):
            ax.plot(grid, _median_density(part, grid), color=palette(i % 10), label=label, linewidth=1.2)
        _density_axes(ax, title)
    axes[0, -1].legend(fontsize="small")
    fig.suptitle(f"{study.name}: end-of-run Hessian density")
    return _save(fig, study, "spectral_density.png")


def plot_diagnostics(study: Study) -> list[Path]:
    """The diagnostics plots whose data the study has (none when it recorded none)."""
    paths = []
    if any(c in study.steps.columns and study.steps[c].notna().any() for c in DOM_COLUMNS.values()):
        paths.append(plot_dom_ratio(study))
    if "gram_r_avg" in study.steps.columns and np.isfinite(study.steps["gram_r_avg"]).any():
        paths.append(plot_gram_dominance(study))
    if not load_spectra(study).empty:
        paths.append(plot_spectra(study))
    return paths
