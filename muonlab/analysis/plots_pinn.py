"""Standard plots of Helmholtz PINN studies (SPEC 6; T Figs. 7-9).

Every function takes a :class:`~muonlab.analysis.load.Study` of problem ``helmholtz``
and returns a :class:`matplotlib.figure.Figure`. Series are the optimizers (with their
swept hyperparameters) and panels the combinations of swept problem settings (e.g.
``roi = [true, false]``), as in the toy-problem plots. Per-configuration plots (box
plots, step sizes) list the configurations top to bottom on the y axis, so that a
15-point lr sweep stays readable at a normal width.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .grouping import panels, series, study_style
from .load import Study
from .plots import mark_events
from .style import StudyStyle, figure_legend, finish, log_axis, new_figure, themed

# Box-plot panels of T Fig. 9: summary column -> axis label.
DISTRIBUTION_METRICS: dict[str, str] = {
    "spike_count": "spike count (r_e >= rho)",
    "spike_peak_median": "spike peak r_e (median)",
    "recovery_median": "recovery time (steps)",
    "valid_event_rate": "valid-event rate",
    "final_rel_l2": "final rel-L2",
}

STEP_SIZE_TOLERANCE = 0.25
BAND_ALPHA = 0.2
ROW_HEIGHT = 0.28  # inches per configuration on a per-configuration y axis


def roi_onset(study: Study) -> int | None:
    """First ROI event step of the study (``t0``), ``None`` without ROI events."""
    roi = study.events.loc[study.events["kind"] == "roi", "step"]
    return int(roi.min()) if len(roi) else None


def _mean_band(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per step: mean, min and max over the runs (seeds) of one series, NaN rows dropped."""
    grouped = rows.dropna(subset=[column]).groupby("step")[column]
    return pd.DataFrame({"mean": grouped.mean(), "lo": grouped.min(), "hi": grouped.max()})


def _quartiles(values: pd.core.groupby.SeriesGroupBy) -> pd.DataFrame:
    """Median and quartiles per group."""
    return pd.DataFrame({"median": values.median(), "q25": values.quantile(0.25), "q75": values.quantile(0.75)})


def _labelled_runs(study: Study) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(tick label, series label, summary rows) per panel and series: the seeds of one
    configuration; the tick label adds the panel's swept settings."""
    for title, rows in panels(study, study.summary):
        prefix = "" if title == study.problem else f"{title}: "
        for label, part in series(study, rows):
            yield prefix + label, label, part


def _configuration_axis(ax: Axes, ticks: list[str]) -> None:
    """Configurations as y tick labels, the first on top."""
    ax.set_yticks(np.arange(len(ticks)), ticks)
    ax.set_ylim(len(ticks) - 0.5, -0.5)


def default_step_target(study: Study) -> float:
    """Median over configurations of their median ``step_size_median`` (the reference
    when no target is given: the aligned optimizers sit around it)."""
    return float(np.median([rows["step_size_median"].median() for _, _, rows in _labelled_runs(study)]))


def _target_band(ax: Axes, target: float, tolerance: float, *, vertical: bool = False) -> None:
    line, span = (ax.axvline, ax.axvspan) if vertical else (ax.axhline, ax.axhspan)
    line(target, color="k", linestyle="--", linewidth=1, label=f"target s = {target:.2g}")
    span(target * (1 - tolerance), target * (1 + tolerance), color="k", alpha=0.1, label=f"tolerance +-{tolerance:.0%}")


@themed()
def plot_pinn_training(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Training loss (top) and global rel-L2 (bottom) over steps: mean over seeds with
    the min-max band across seeds, ROI onset ``t0`` marked (T Fig. 7)."""
    style = style or study_style(study)
    groups = list(panels(study, study.steps))
    fig, axes = new_figure(2, len(groups), panel=(6.0, 3.2), sharex="col", sharey="row")
    onset = roi_onset(study)
    for col, (title, rows) in enumerate(groups):
        for row, column in enumerate(("loss", "rel_l2")):
            ax = axes[row, col]
            for label, part in series(study, rows):
                band = _mean_band(part, column)
                ax.fill_between(band.index, band["lo"], band["hi"], color=style.series(label).color, alpha=BAND_ALPHA, linewidth=0)
                ax.plot(band.index, band["mean"], linewidth=1.2, **style.line(label, len(band)))
            if onset is not None:
                mark_events(ax, np.array([onset]), onset, onset, label=f"ROI onset t0 = {onset}")
            log_axis(ax)
        axes[0, col].set_title(title)
        axes[1, col].set_xlabel("step")
    axes[0, 0].set_ylabel("training loss (on p_t)")
    axes[1, 0].set_ylabel("global rel-L2 (eval grid)")
    figure_legend(fig, axes[1])
    return finish(fig, f"{study.name}: mean over seeds, band = seed min-max")


@themed()
def plot_pinn_distributions(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Box plots across seeds of spike count, spike peak, recovery time, valid-event
    rate and final rel-L2 per configuration, each seed a dot (T Fig. 9). Runs without
    spikes have NaN peaks/recoveries and are left out of those panels; a panel with no
    value at all says so instead of drawing an empty axis."""
    style = style or study_style(study)
    groups = list(_labelled_runs(study))
    positions = np.arange(len(groups))
    fig, axes = new_figure(1, len(DISTRIBUTION_METRICS), panel=(2.3, 1.2 + ROW_HEIGHT * len(groups)), sharey=True)
    for ax, (column, xlabel) in zip(axes[0], DISTRIBUTION_METRICS.items()):
        data = [rows[column].dropna().to_numpy(dtype=float) for _, _, rows in groups]
        ax.set_xlabel(xlabel)
        if not any(len(values) for values in data):
            ax.text(0.5, 0.5, "no run has a value\n(no spike)", transform=ax.transAxes, ha="center", va="center", color="0.4")
            ax.set_xticks([])
            continue
        ax.boxplot(data, positions=positions, widths=0.55, orientation="horizontal", showfliers=False, medianprops={"color": "k"})
        for (_, label, _), y, values in zip(groups, positions, data):
            ax.scatter(values, np.full(len(values), y), s=14, color=style.series(label).color, alpha=0.85, zorder=3, label=label)
        if column == "final_rel_l2":
            log_axis(ax, "x")
    _configuration_axis(axes[0, 0], [tick for tick, _, _ in groups])
    return finish(fig, f"{study.name}: metric distributions across seeds (one dot per seed)")


@themed()
def plot_pinn_step_size(study: Study, *, target: float | None = None, tolerance: float = STEP_SIZE_TOLERANCE, style: StudyStyle | None = None) -> Figure:
    """Achieved step size (median ``s_t`` over the stationary window, steps < t0) per
    configuration: median over seeds with IQR error bars, the target as a dashed line
    and the tolerance band shaded (T Fig. 8a). ``target`` defaults to
    :func:`default_step_target`."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    style = style or study_style(study)
    groups = list(_labelled_runs(study))
    fig, axes = new_figure(1, 1, panel=(6.4, 1.4 + ROW_HEIGHT * len(groups)))
    ax = axes[0, 0]
    _target_band(ax, default_step_target(study) if target is None else target, tolerance, vertical=True)
    for y, (_, label, rows) in enumerate(groups):
        median, q25, q75 = (rows["step_size_median"].quantile(q) for q in (0.5, 0.25, 0.75))
        ax.errorbar([median], [y], xerr=[[median - q25], [q75 - median]], fmt=style.series(label).marker, capsize=4,
                    color=style.series(label).color, label=label)  # fmt: skip
    _configuration_axis(ax, [tick for tick, _, _ in groups])
    ax.set_xlabel("achieved s_t = ||dtheta||_2 / sqrt(P)\n(median over seeds, bars = IQR)")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(handles[:2], labels[:2], loc="best", fontsize="small")  # the target; the points are labelled by the axis
    return finish(fig, f"{study.name}: step-size alignment, stationary window (steps < t0)")


@themed()
def plot_pinn_lr_sensitivity(study: Study, *, target: float | None = None, tolerance: float = STEP_SIZE_TOLERANCE, style: StudyStyle | None = None) -> Figure:
    """LR sweep (T Fig. 8): achieved step size (left, with the target band) and final
    rel-L2 (right) against the learning rate, median over seeds with the IQR band, per
    optimizer. The lr is the matrix optimizer's (the whole net's for baselines)."""
    if "lr" not in study.summary.columns:
        raise ValueError("plot_pinn_lr_sensitivity: the study sweeps no lr (summary.csv has no 'lr' column)")
    style = style or study_style(study)
    fig, axes = new_figure(1, 2, panel=(5.2, 3.6), sharex=True)
    _target_band(axes[0, 0], default_step_target(study) if target is None else target, tolerance)
    for ax, column in zip(axes[0], ("step_size_median", "final_rel_l2")):
        for title, rows in panels(study, study.summary):
            for optimizer in study.optimizers:
                part = rows[rows["optimizer"] == optimizer].dropna(subset=["lr"])
                if part.empty:
                    continue
                stats = _quartiles(part.groupby("lr")[column]).sort_index()
                look = style.optimizer(optimizer)
                label = optimizer if title == study.problem else f"{optimizer} {title}"
                ax.fill_between(stats.index, stats["q25"], stats["q75"], color=look.color, alpha=BAND_ALPHA, linewidth=0)
                ax.plot(stats.index, stats["median"], marker=look.marker, color=look.color, linestyle=look.linestyle, label=label)
        log_axis(ax, "x")
        log_axis(ax, "y")
        ax.set_xlabel("learning rate")
    axes[0, 0].set_ylabel("achieved s_t (median, steps < t0)")
    axes[0, 0].set_title("(a) achieved step size")
    axes[0, 1].set_ylabel("final rel-L2")
    axes[0, 1].set_title("(b) final rel-L2")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: LR sensitivity, median and IQR band over seeds")


def plot_pinn_study(study: Study, *, style: StudyStyle | None = None) -> dict[str, Figure]:
    """The standard PINN figures by file name: training curves, distributions and
    step-size alignment always; the LR-sensitivity plot when the study sweeps ``lr``."""
    style = style or study_style(study)
    figures = {
        "pinn_training.png": plot_pinn_training(study, style=style),
        "pinn_distributions.png": plot_pinn_distributions(study, style=style),
        "pinn_step_size.png": plot_pinn_step_size(study, style=style),
    }
    if "lr" in study.swept_hparams:
        figures["pinn_lr_sensitivity.png"] = plot_pinn_lr_sensitivity(study, style=style)
    return figures
