"""Evidence plots (SPEC 11): the spike count as a curve over the threshold rho, and the
per-column closed loop (event-triggered column scales, injected vs other vs placebo).

Each function takes a :class:`~muonlab.analysis.load.Study` and returns a
:class:`matplotlib.figure.Figure`, or None when the study has nothing to show (saving is
:func:`muonlab.analysis.figures.save_figures`). Lines are the median over seeds, bands
the interquartile range over seeds; panels are the swept problem settings; only injected
runs (control ``none``) are drawn.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from .closed_loop import KINDS, event_triggered
from .grouping import panels, series, study_style
from .load import Study
from .style import EVENT_COLOR, StudyStyle, figure_legend, finish, new_figure, themed

BAND_ALPHA = 0.22
KIND_LABELS = {"injected": "injected columns (event at 0)", "other": "other columns",
               "placebo": "placebo: next event's columns half-way between events"}


def _injected(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["control"] == "none"] if "control" in frame.columns else frame


@themed()
def plot_spike_rho(study: Study, *, style: StudyStyle | None = None) -> Figure | None:
    """``spike_count@RHO`` against rho (log axis) per optimizer: median and IQR over seeds."""
    summary = _injected(study.summary)
    columns = [c for c in summary.columns if c.startswith("spike_count@")]
    if not columns or summary[columns].isna().all().all():
        return None
    style = style or study_style(study)
    rhos = np.array([float(c.split("@")[1]) for c in columns])
    groups = list(panels(study, summary))
    fig, axes = new_figure(1, len(groups), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        for label, runs in series(study, rows):
            q25, median, q75 = np.nanpercentile(runs[columns].to_numpy(float), [25, 50, 75], axis=0)
            ax.fill_between(rhos, q25, q75, color=style.series(label).color, alpha=BAND_ALPHA, linewidth=0)
            ax.plot(rhos, median, linewidth=1.3, **style.line(label, len(rhos)))
        ax.set_xscale("log")
        ax.set_xticks(rhos, [f"{r:g}" for r in rhos])
        ax.minorticks_off()
        ax.set_title(title)
        ax.set_xlabel("threshold rho (peak loss / pre-event baseline)")
    axes[0, 0].set_ylabel("events with peak ratio >= rho")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: spike count over the threshold rho (median, IQR over seeds)")


@themed()
def plot_closed_loop_columns(study: Study) -> Figure | None:
    """Event-triggered column scales per clipping optimizer: the injected columns around
    their event, the other columns, and placebo steps half-way between events."""
    traces = _injected(event_triggered(study))
    if traces.empty:
        return None
    moving = [o for o, t in traces.groupby("optimizer", sort=False) if t["c"].std() > 0]  # NOCLIP's c is 1
    traces = traces[traces["optimizer"].isin(moving)]
    if traces.empty:
        return None
    groups = [(f"{title}: {optimizer}", rows[rows["optimizer"] == optimizer])
              for title, rows in panels(study, traces) for optimizer in moving]
    colors = dict(zip(KINDS, sns.color_palette("colorblind", n_colors=len(KINDS))))
    fig, axes = new_figure(1, len(groups), panel=(4.0, 3.2), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        for kind in KINDS:
            part = rows[rows["kind"] == kind].pivot_table(index="k", columns="run_id", values="c")
            q25, median, q75 = (part.quantile(q, axis=1) for q in (0.25, 0.5, 0.75))
            ax.fill_between(part.index, q25, q75, color=colors[kind], alpha=BAND_ALPHA, linewidth=0)
            ax.plot(part.index, median, color=colors[kind], linewidth=1.3, label=KIND_LABELS[kind])
        ax.axvline(0, color=EVENT_COLOR, linestyle="--", linewidth=0.8)
        ax.set_title(title)
        ax.set_xlabel("steps from the event")
    axes[0, 0].set_ylabel("applied clip c_j (set mean)")
    figure_legend(fig, axes[0], max_cols=3)
    return finish(fig, f"{study.name}: per-column closed loop (median, IQR over seeds)")
