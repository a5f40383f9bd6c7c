"""Standard plots of Helmholtz PINN studies (SPEC 6; T Figs. 7-9).

Every function takes a :class:`~muonlab.analysis.load.Study` of problem ``helmholtz``,
writes one PNG into ``DIR/plots/`` and returns its path. Series are the optimizers (with
their swept hyperparameters) and panels the combinations of swept problem settings
(e.g. ``roi = [true, false]``), as in the toy-problem plots.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from .load import Study
from .plots import _colors, _legend, _panels, _save, _series

# Box-plot panels of T Fig. 9: summary column -> axis label.
DISTRIBUTION_METRICS: dict[str, str] = {
    "spike_count": "spike count (events with r_e >= rho)",
    "spike_peak_median": "spike peak r_e (median over spikes)",
    "recovery_median": "recovery time (steps)",
    "valid_event_rate": "valid-event rate",
    "final_rel_l2": "final rel-L2",
}

STEP_SIZE_TOLERANCE = 0.25


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
    for title, rows in _panels(study, study.summary):
        prefix = "" if title == study.problem else f"{title}\n"
        for label, part in _series(study, rows):
            yield prefix + label, label, part


def default_step_target(study: Study) -> float:
    """Median over configurations of their median ``step_size_median`` (the reference
    when no target is given: the aligned optimizers sit around it)."""
    return float(np.median([rows["step_size_median"].median() for _, _, rows in _labelled_runs(study)]))


def _target_band(ax: plt.Axes, target: float, tolerance: float) -> None:
    ax.axhline(target, color="k", linestyle="--", linewidth=1, label=f"target s = {target:.2g}")
    ax.axhspan(target * (1 - tolerance), target * (1 + tolerance), color="k", alpha=0.1, label=f"tolerance +-{tolerance:.0%}")


def plot_pinn_training(study: Study) -> Path:
    """Training loss (top) and global rel-L2 (bottom) over steps: mean over seeds with
    the min-max band across seeds, ROI onset ``t0`` marked (T Fig. 7)."""
    panels = list(_panels(study, study.steps))
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(2, len(panels), figsize=(max(8.0, 6.0 * len(panels)), 7.5), squeeze=False, sharex="col")
    onset, colors = roi_onset(study), _colors(study)
    for col, (title, rows) in enumerate(panels):
        for row, (column, ylabel) in enumerate((("loss", "training loss (on p_t)"), ("rel_l2", "global rel-L2 (eval grid)"))):
            ax = axes[row, col]
            for label, part in _series(study, rows):
                band, color = _mean_band(part, column), colors[label]
                ax.plot(band.index, band["mean"], color=color, label=label, linewidth=1.2)
                ax.fill_between(band.index, band["lo"], band["hi"], color=color, alpha=0.2, linewidth=0)
            if onset is not None:
                ax.axvline(onset, color="k", linestyle="--", linewidth=1, label=f"ROI onset t0 = {onset}")
            ax.set_yscale("log")
            ax.set_ylabel(ylabel)
        axes[0, col].set_title(title)
        axes[1, col].set_xlabel("step")
    fig.suptitle(f"{study.name}: mean over seeds, band = seed min-max")
    _legend(fig, axes[1, 0])
    return _save(fig, study, "pinn_training.png")


def plot_pinn_distributions(study: Study) -> Path:
    """Box plots across seeds of spike count, spike peak, recovery time, valid-event
    rate and final rel-L2 per configuration, each seed a dot (T Fig. 9). Runs without
    spikes have NaN peaks/recoveries and are left out of those panels."""
    groups = list(_labelled_runs(study))
    colors = _colors(study)
    positions = np.arange(1, len(groups) + 1)
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, len(DISTRIBUTION_METRICS), figsize=(len(DISTRIBUTION_METRICS) * (1.4 + 0.7 * len(groups)), 4.5))
    for ax, (column, ylabel) in zip(axes, DISTRIBUTION_METRICS.items()):
        data = [rows[column].dropna().to_numpy(dtype=float) for _, _, rows in groups]
        ax.boxplot(data, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "k"})
        for (_, label, _), x, values in zip(groups, positions, data):
            ax.scatter(np.full(len(values), x), values, s=14, color=colors[label], alpha=0.8, zorder=3)
        ax.set_xticks(positions, [tick for tick, _, _ in groups], rotation=30, ha="right", fontsize="small")
        ax.set_ylabel(ylabel)
        if column == "final_rel_l2":
            ax.set_yscale("log")
    fig.suptitle(f"{study.name}: metric distributions across seeds")
    fig.tight_layout()
    return _save(fig, study, "pinn_distributions.png")


def plot_pinn_step_size(study: Study, *, target: float | None = None, tolerance: float = STEP_SIZE_TOLERANCE) -> Path:
    """Achieved step size (median ``s_t`` over the stationary window, steps < t0) per
    configuration: median over seeds with IQR error bars, the target as a dashed line
    and the tolerance band shaded (T Fig. 8a). ``target`` defaults to
    :func:`default_step_target`."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    groups = list(_labelled_runs(study))
    values = [rows["step_size_median"] for _, _, rows in groups]
    median, q25, q75 = (np.array([v.quantile(q) for v in values]) for q in (0.5, 0.25, 0.75))
    x = np.arange(len(groups))
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(2.5 + 1.0 * len(groups), 4.2))
    _target_band(ax, default_step_target(study) if target is None else target, tolerance)
    ax.errorbar(x, median, yerr=np.vstack([median - q25, q75 - median]), fmt="o", capsize=4, color="C0", label="median over seeds (IQR)")
    ax.set_xticks(x, [tick for tick, _, _ in groups], rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("achieved s_t = ||dtheta||_2 / sqrt(P)")
    ax.set_title("step-size alignment: stationary window, steps < t0")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return _save(fig, study, "pinn_step_size.png")


def plot_pinn_lr_sensitivity(study: Study, *, target: float | None = None, tolerance: float = STEP_SIZE_TOLERANCE) -> Path:
    """LR sweep (T Fig. 8): achieved step size (left, with the target band) and final
    rel-L2 (right) against the learning rate, median over seeds with the IQR band, per
    optimizer. The lr is the matrix optimizer's (the whole net's for baselines)."""
    if "lr" not in study.summary.columns:
        raise ValueError("plot_pinn_lr_sensitivity: the study sweeps no lr (summary.csv has no 'lr' column)")
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    _target_band(axes[0], default_step_target(study) if target is None else target, tolerance)
    palette = dict(zip(study.optimizers, sns.color_palette(n_colors=len(study.optimizers))))
    for ax, column in zip(axes, ("step_size_median", "final_rel_l2")):
        for title, rows in _panels(study, study.summary):
            for optimizer, color in palette.items():
                part = rows[rows["optimizer"] == optimizer].dropna(subset=["lr"])
                if part.empty:
                    continue
                stats = _quartiles(part.groupby("lr")[column]).sort_index()
                label = optimizer if title == study.problem else f"{optimizer} {title}"
                ax.plot(stats.index, stats["median"], marker="o", color=color, label=label)
                ax.fill_between(stats.index, stats["q25"], stats["q75"], color=color, alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_yscale("log")
        # Minor-tick labels of a narrow lr range overlap on the x axis: decades only.
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("learning rate")
    axes[0].set_ylabel("achieved s_t (median over steps < t0)")
    axes[0].set_title("(a) achieved step size")
    axes[1].set_ylabel("final rel-L2")
    axes[1].set_title("(b) LR sensitivity: median, band = IQR over seeds")
    _legend(fig, axes[1])
    return _save(fig, study, "pinn_lr_sensitivity.png")


def plot_pinn_study(study: Study) -> list[Path]:
    """The standard PINN plots: training curves, distributions and step-size alignment
    always; the LR-sensitivity plot when the study sweeps ``lr``."""
    paths = [plot_pinn_training(study), plot_pinn_distributions(study), plot_pinn_step_size(study)]
    if "lr" in study.swept_hparams:
        paths.append(plot_pinn_lr_sensitivity(study))
    return paths
