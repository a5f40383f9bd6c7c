"""Plots of a Helmholtz PINN study (SPEC 6; T Figs. 7-9).

Every function takes a loaded study (anything with the ``summary``, ``steps`` and
``events`` DataFrames of SPEC 5, e.g. ``muonlab.analysis.load_study(dir)``) and returns a
matplotlib ``Figure``; runs are grouped by ``label`` when the summary has it (several
entries of one optimizer), else by ``optimizer``, in the study's order.
"""

from __future__ import annotations

from typing import Protocol

import matplotlib

matplotlib.use("Agg")  # plots are written to files; never open a window

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure


class StudyFrames(Protocol):
    """The three tables of a study directory (SPEC 5-6)."""

    summary: pd.DataFrame
    steps: pd.DataFrame
    events: pd.DataFrame


# Box-plot panels of T Fig. 9: summary column -> axis label.
DISTRIBUTION_METRICS: dict[str, str] = {
    "spike_count": "spike count (events with r_e >= rho)",
    "spike_peak_median": "spike peak r_e (median over spikes)",
    "recovery_median": "recovery time (steps)",
    "valid_event_rate": "valid-event rate",
    "final_rel_l2": "final rel-L2",
}


def group_column(summary: pd.DataFrame) -> str:
    """``label`` when the summary has it, else ``optimizer``."""
    return "label" if "label" in summary.columns else "optimizer"


def _groups(summary: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(summary[group_column(summary)]))


def roi_onset(events: pd.DataFrame) -> int | None:
    """First ROI event step of the study (``t0``), ``None`` without ROI events."""
    roi = events.loc[events["kind"] == "roi", "step"] if len(events) else pd.Series(dtype=int)
    return int(roi.min()) if len(roi) else None


def _mean_band(steps: pd.DataFrame, column: str) -> pd.DataFrame:
    """Per step: mean, min and max over the runs (seeds) of one group, NaN rows dropped."""
    wide = steps.pivot_table(index="step", columns="run_id", values=column, aggfunc="first").dropna(how="all")
    return pd.DataFrame({"mean": wide.mean(axis=1), "lo": wide.min(axis=1), "hi": wide.max(axis=1)})


def plot_pinn_training(study: StudyFrames) -> Figure:
    """Training loss and global rel-L2 over steps, mean over seeds with the min-max band
    across seeds, ROI onset ``t0`` marked (T Fig. 7)."""
    summary, key = study.summary, group_column(study.summary)
    steps = study.steps.merge(summary[["run_id", key]], on="run_id")
    onset = roi_onset(study.events)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    panels = (("loss", "training loss (on the sampled p_t)"), ("rel_l2", "global rel-L2 (128x128 grid)"))
    for ax, (column, ylabel) in zip(axes, panels):
        for group in _groups(summary):
            band = _mean_band(steps[steps[key] == group], column)
            (line,) = ax.plot(band.index, band["mean"], label=group, lw=1.2)
            ax.fill_between(band.index, band["lo"], band["hi"], color=line.get_color(), alpha=0.2, lw=0)
        if onset is not None:
            ax.axvline(onset, color="k", ls="--", lw=1, label=f"ROI onset (t0 = {onset})")
        ax.set(yscale="log", xlabel="step", ylabel=ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_title("(a) training objective: mean, band = min-max over seeds")
    axes[1].set_title("(b) domain-wide rel-L2")
    axes[1].legend(fontsize=8)
    return fig


def plot_pinn_distributions(study: StudyFrames) -> Figure:
    """Box plots across seeds of spike count, spike peak, recovery time, valid-event rate
    and final rel-L2 per optimizer, each seed as a dot (T Fig. 9)."""
    summary, key = study.summary, group_column(study.summary)
    groups = _groups(summary)
    fig, axes = plt.subplots(1, len(DISTRIBUTION_METRICS), figsize=(3.2 * len(DISTRIBUTION_METRICS), 4), constrained_layout=True)
    for ax, (column, ylabel) in zip(axes, DISTRIBUTION_METRICS.items()):
        data = [summary.loc[summary[key] == g, column].dropna().to_numpy(dtype=float) for g in groups]
        positions = np.arange(1, len(groups) + 1)
        ax.boxplot(data, positions=positions, widths=0.5, showfliers=False, medianprops={"color": "k"})
        for x, values in zip(positions, data):
            ax.scatter(np.full(len(values), x), values, s=12, alpha=0.7, zorder=3)
        ax.set_xticks(positions, groups, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        if column == "final_rel_l2":
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("PINN Helmholtz: metric distributions across seeds (NaN runs left out)")
    return fig


def _quartiles(frame: pd.DataFrame, by: list[str], column: str) -> pd.DataFrame:
    grouped = frame.groupby(by, sort=False)[column]
    return pd.DataFrame({"median": grouped.median(), "q25": grouped.quantile(0.25), "q75": grouped.quantile(0.75)})


def _target_band(ax: plt.Axes, target: float, tolerance: float) -> None:
    ax.axhline(target, color="k", ls="--", lw=1, label=f"target s = {target:.2g}")
    ax.axhspan(target * (1 - tolerance), target * (1 + tolerance), color="k", alpha=0.1,
               label=f"tolerance +-{tolerance:.0%}")


def default_step_target(summary: pd.DataFrame) -> float:
    """Median over groups of each group's median ``step_size_median``: the reference the
    aligned optimizers are compared with when the caller gives no target."""
    per_group = summary.groupby(group_column(summary), sort=False)["step_size_median"].median()
    return float(per_group.median())


def plot_pinn_step_size(study: StudyFrames, *, target: float | None = None, tolerance: float = 0.25) -> Figure:
    """Achieved step size ``s_t`` (median over the stationary window, steps < t0) per
    optimizer: median over seeds with IQR error bars, target line and band (T Fig. 8a)."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    summary, key = study.summary, group_column(study.summary)
    target = default_step_target(summary) if target is None else target
    by = [key, "lr"] if "lr" in summary.columns and summary.groupby(key)["lr"].nunique().max() > 1 else [key]
    stats = _quartiles(summary, by, "step_size_median")
    names = ["\n".join(f"{v:g}" if isinstance(v, float) else str(v) for v in np.atleast_1d(idx)) for idx in stats.index]
    x = np.arange(len(stats))
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(x) + 2), 4), constrained_layout=True)
    _target_band(ax, target, tolerance)
    ax.errorbar(x, stats["median"], yerr=[stats["median"] - stats["q25"], stats["q75"] - stats["median"]],
                fmt="o", capsize=4, color="C0", label="median over seeds (IQR)")
    ax.set_xticks(x, names)
    ax.set(ylabel="achieved s_t = ||dtheta||_2 / sqrt(P)", title="Step-size alignment (stationary window, t < t0)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_pinn_lr_sensitivity(study: StudyFrames, *, target: float | None = None, tolerance: float = 0.25) -> Figure:
    """LR sweep: achieved step size and final rel-L2 against the learning rate, median
    over seeds with the IQR band, per optimizer (T Fig. 8)."""
    summary, key = study.summary, group_column(study.summary)
    if "lr" not in summary.columns:
        raise ValueError("plot_pinn_lr_sensitivity: the study sweeps no lr (summary has no 'lr' column)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    _target_band(axes[0], default_step_target(summary) if target is None else target, tolerance)
    for ax, column in zip(axes, ("step_size_median", "final_rel_l2")):
        for group in _groups(summary):
            stats = _quartiles(summary[summary[key] == group], ["lr"], column).sort_index()
            (line,) = ax.plot(stats.index, stats["median"], marker="o", label=group)
            ax.fill_between(stats.index, stats["q25"], stats["q75"], color=line.get_color(), alpha=0.2, lw=0)
        ax.set(xscale="log", yscale="log", xlabel="learning rate (matrix optimizer; whole net for baselines)")
        ax.grid(alpha=0.3)
    axes[0].set(ylabel="achieved s_t (median over t < t0)", title="(a) achieved step size")
    axes[1].set(ylabel="final rel-L2", title="(b) LR sensitivity: median, band = IQR over seeds")
    axes[1].legend(fontsize=8)
    return fig
