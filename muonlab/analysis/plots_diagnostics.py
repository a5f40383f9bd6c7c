"""Plots of the run diagnostics (SPEC 6): dominant ratio over steps (AMUSE Fig. 2), Gram
diagonal dominance over steps (RMNP Fig. 3-4) and the Hessian spectral density.

Study plots take a loaded :class:`~muonlab.analysis.load.Study` and return a
:class:`matplotlib.figure.Figure`; curves are the median over seeds per optimizer with
the interquartile band; panels are the combinations of swept problem settings.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from muonlab.diagnostics import SpectralDensity

from .grouping import median_band, panels, series, study_style
from .load import Study
from .style import StudyStyle, figure_legend, finish, log_axis, new_figure, themed

# CSV columns of the dominant ratio per tracked vector (muonlab.runner.observers).
DOM_COLUMNS = {"update": "r_dom", "gradient": "r_dom_gradient", "momentum": "r_dom_momentum"}
GRAM_COLUMNS = {"gram_r_avg": "r_avg (mean over rows)", "gram_r_min": "r_min", "gram_r_max": "r_max"}
SPECTRUM_SUFFIX = ".spectrum.csv"
# Share of each density's mass shown on the eigenvalue axis (the rest is empty tail).
SPECTRUM_MASS = 0.999
SPECTRUM_COLS = 4
BAND_ALPHA = 0.2


def _observed(study: Study, column: str) -> pd.DataFrame:
    """The logged rows where ``column`` was recorded (observation steps)."""
    steps = study.steps
    return steps[steps[column].notna()] if column in steps.columns else steps.iloc[:0]


def _band_plot(ax: Axes, study: Study, rows: pd.DataFrame, column: str, style: StudyStyle) -> None:
    for label, part in series(study, rows):
        band = median_band(part, column)
        ax.fill_between(band.index, band["q25"], band["q75"], color=style.series(label).color, alpha=BAND_ALPHA, linewidth=0)
        ax.plot(band.index, band["median"], linewidth=1.3, **style.line(label, len(band)))


@themed()
def plot_dom_ratio(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Dominant ratio ``r_dom = ||Q Q^T v|| / ||v||`` over steps per optimizer (AMUSE
    Fig. 2), one column of panels per tracked vector (update, gradient, momentum)."""
    style = style or study_style(study)
    vectors = [v for v, c in DOM_COLUMNS.items() if c in study.steps.columns and study.steps[c].notna().any()]
    groups = list(panels(study, _observed(study, DOM_COLUMNS[vectors[0]])))
    fig, axes = new_figure(len(groups), len(vectors), sharex=True, sharey=True)
    for row, (title, rows) in enumerate(groups):
        for col, vector in enumerate(vectors):
            ax = axes[row, col]
            column = DOM_COLUMNS[vector]
            _band_plot(ax, study, rows[rows[column].notna()], column, style)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{title}: {vector}")
        axes[row, 0].set_ylabel("r_dom = ||Q Q^T v|| / ||v||")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: dominant ratio, median and IQR over seeds")


@themed()
def plot_gram_dominance(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Gram diagonal dominance of the momenta over steps (RMNP Fig. 3-4): ``r_avg``,
    ``r_min``, ``r_max`` averaged over matrix parameters, log scale, with the line
    ``r = 1`` where a row's diagonal entry equals its mean off-diagonal magnitude."""
    style = style or study_style(study)
    groups = list(panels(study, _observed(study, "gram_r_avg")))
    fig, axes = new_figure(len(groups), len(GRAM_COLUMNS), sharex=True, sharey=True)
    for row, (title, rows) in enumerate(groups):
        for col, (column, name) in enumerate(GRAM_COLUMNS.items()):
            ax = axes[row, col]
            _band_plot(ax, study, rows[np.isfinite(rows[column])], column, style)
            ax.axhline(1.0, color="k", linestyle=":", linewidth=1.0, label="r = 1 (diagonal = mean off-diagonal)")
            log_axis(ax)
            ax.set_title(f"{title}: {name}")
        axes[row, 0].set_ylabel("G_ii / mean_j |G_ij|  (G = V V^T)")
    for ax in axes[-1]:
        ax.set_xlabel("step")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: Gram diagonal dominance of the momentum, median and IQR over seeds")


def _density_axes(ax: Axes) -> None:
    log_axis(ax)
    ax.set_xlabel("Hessian eigenvalue")


@themed()
def plot_spectral_density(density: SpectralDensity, *, label: str = "") -> Figure:
    """One SLQ density (:func:`muonlab.diagnostics.slq_density`) on a log scale, with
    its quadrature nodes as a rug."""
    fig, axes = new_figure(1, 1)
    ax = axes[0, 0]
    values = density.density.numpy()
    ax.plot(density.grid.numpy(), values, linewidth=1.3, label=label or "density")
    nodes = np.concatenate([n.numpy() for n in density.nodes])
    floor = _density_floor(values)
    ax.plot(nodes, np.full_like(nodes, floor), "|", color="0.3", markersize=10, label="quadrature nodes")
    ax.set_ylim(bottom=floor / 2)
    _density_axes(ax)
    ax.set_ylabel("density (integrates to 1)")
    figure_legend(fig, [ax])
    return finish(fig, f"Hessian spectral density (SLQ, sigma = {density.sigma:.2g})")


def _density_floor(values: np.ndarray) -> float:
    """Bottom of the log density axis: 1e-4 of the peak (lower is Gaussian-tail noise)."""
    return 1e-4 * float(np.max(values))


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


def _mass_range(grid: np.ndarray, density: np.ndarray, mass: float) -> tuple[float, float]:
    """The eigenvalue interval holding the central ``mass`` of ``density`` on ``grid``."""
    cdf = np.cumsum(density)
    if cdf[-1] <= 0:
        return float(grid[0]), float(grid[-1])
    cdf /= cdf[-1]
    tail = (1.0 - mass) / 2
    return float(grid[np.searchsorted(cdf, tail)]), float(grid[min(np.searchsorted(cdf, 1.0 - tail), len(grid) - 1)])


@themed()
def plot_spectra(study: Study, *, points: int = 600, style: StudyStyle | None = None) -> Figure:
    """End-of-run Hessian spectral densities (SLQ), median over seeds, as small
    multiples: one panel per series (and combination of swept settings), sharing a log
    density axis and an eigenvalue axis cut to where the densities hold their mass
    (:data:`SPECTRUM_MASS`)."""
    style = style or study_style(study)
    spectra = load_spectra(study)
    curves = []
    for title, rows in panels(study, spectra):
        grid = np.linspace(rows["eigenvalue"].min(), rows["eigenvalue"].max(), points)
        for label, part in series(study, rows):
            curves.append((label if title == study.problem else f"{title}: {label}", label, grid, _median_density(part, grid)))
    ranges = np.array([_mass_range(grid, density, SPECTRUM_MASS) for _, _, grid, density in curves])
    peak = max(float(density.max()) for *_, density in curves)
    n_cols = min(SPECTRUM_COLS, len(curves))
    n_rows = math.ceil(len(curves) / n_cols)
    fig, axes = new_figure(n_rows, n_cols, panel=(3.4, 2.5), sharex=True, sharey=True)
    for ax, (title, label, grid, density) in zip(axes.flat, curves):
        ax.plot(grid, density, linewidth=1.3, **style.line(label))
        ax.set_title(title, color=style.series(label).color)
        _density_axes(ax)
    for index in range(len(curves), axes.size):  # empty cells: the panel above shows the x axis
        axes.flat[index].set_visible(False)
        above = axes.flat[index - n_cols]
        above.xaxis.set_tick_params(labelbottom=True)
        above.set_xlabel("Hessian eigenvalue")
    axes[0, 0].set_xlim(ranges[:, 0].min(), ranges[:, 1].max())
    axes[0, 0].set_ylim(_density_floor(np.array([peak])), 2 * peak)
    for ax in axes[:, 0]:
        ax.set_ylabel("density")
    for index, ax in enumerate(axes.flat[: len(curves)]):
        if index + n_cols < len(curves):
            ax.set_xlabel("")
    return finish(fig, f"{study.name}: end-of-run Hessian density (SLQ), median over seeds, {SPECTRUM_MASS:.1%} of the mass shown")


def plot_diagnostics(study: Study, *, style: StudyStyle | None = None) -> dict[str, Figure]:
    """The diagnostics figures whose data the study has (none when it recorded none),
    by file name."""
    style = style or study_style(study)
    figures = {}
    if any(c in study.steps.columns and study.steps[c].notna().any() for c in DOM_COLUMNS.values()):
        figures["dom_ratio.png"] = plot_dom_ratio(study, style=style)
    if "gram_r_avg" in study.steps.columns and np.isfinite(study.steps["gram_r_avg"]).any():
        figures["gram_dominance.png"] = plot_gram_dominance(study, style=style)
    if not load_spectra(study).empty:
        figures["spectral_density.png"] = plot_spectra(study, style=style)
    return figures
