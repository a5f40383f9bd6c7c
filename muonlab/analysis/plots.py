"""Standard plots of toy-problem studies (SPEC 6): loss curves, loss around injected
events (T Fig. 10) and the closed-loop evidence r_q95 / r_max over c_used_min (T Fig. 11).

Every function takes a :class:`~muonlab.analysis.load.Study` and returns a
:class:`matplotlib.figure.Figure` (saving is :func:`muonlab.analysis.figures.save_figures`).
Curves are the median over seeds per optimizer (and swept hyperparameter); panels are
the combinations of swept problem settings and share their y scale.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .grouping import event_steps, median_band, panels, series, study_style
from .load import Study
from .style import EVENT_COLOR, StudyStyle, figure_legend, finish, log_axis, new_figure, themed

BAND_ALPHA = 0.22


def _n_seeds(study: Study) -> int:
    return int(study.summary["seed"].nunique())


def _event_window(study: Study, n_events: int = 3) -> tuple[int, int]:
    """Steps from half a period before the run's middle event to half a period after
    the ``n_events``-th event from it."""
    events = event_steps(study)
    if events.size == 0:
        return int(study.steps["step"].min()), int(study.steps["step"].max())
    period = int(np.median(np.diff(events))) if events.size > 1 else int(events[0])
    first = len(events) // 2
    last = min(first + n_events - 1, len(events) - 1)
    return int(events[first] - period // 2), int(events[last] + period // 2)


def mark_events(ax: Axes, steps: np.ndarray, lo: int, hi: int, label: str = "outlier event") -> None:
    """Dashed grey lines at ``steps`` within ``[lo, hi]`` (the first one labelled)."""
    for i, step in enumerate(s for s in steps if lo <= s <= hi):
        ax.axvline(step, color=EVENT_COLOR, linestyle="--", linewidth=0.8, label=label if i == 0 else None, zorder=1)


@themed()
def plot_loss_curves(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Training loss over steps: median over seeds with the IQR band, log scale."""
    style = style or study_style(study)
    groups = list(panels(study, study.steps))
    fig, axes = new_figure(1, len(groups), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        for label, part in series(study, rows):
            band = median_band(part, "loss")
            ax.fill_between(band.index, band["q25"], band["q75"], color=style.series(label).color, alpha=BAND_ALPHA, linewidth=0)
            ax.plot(band.index, band["median"], linewidth=1.3, **style.line(label, len(band)))
        log_axis(ax)
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("loss (median, shaded IQR)")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: loss over training, median and IQR over {_n_seeds(study)} seeds")


@themed()
def plot_event_window(study: Study, *, n_events: int = 3, style: StudyStyle | None = None) -> Figure:
    """Loss around injected events (T Fig. 10): median over seeds per optimizer over a
    window holding ``n_events`` events, dashed lines at the events, log scale."""
    style = style or study_style(study)
    lo, hi = _event_window(study, n_events)
    window = study.steps[(study.steps["step"] >= lo) & (study.steps["step"] <= hi)]
    groups = list(panels(study, window))
    fig, axes = new_figure(1, len(groups), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        for label, part in series(study, rows):
            band = median_band(part, "loss")
            ax.plot(band.index, band["median"], linewidth=1.3, **style.line(label, len(band)))
        mark_events(ax, event_steps(study), lo, hi)
        log_axis(ax)
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("loss (median over seeds)")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: loss around outlier events (steps {lo}-{hi})")


def clipping_optimizers(study: Study) -> list[str]:
    """The optimizers whose applied clip ``c_used_min`` went below 1 (study order)."""
    if "c_used_min" not in study.steps.columns:
        return []
    lowest = study.steps.groupby("optimizer")["c_used_min"].min()
    return [o for o in study.optimizers if o in lowest.index and lowest[o] < 1.0]


@themed()
def plot_closed_loop(study: Study, *, n_events: int = 3, style: StudyStyle | None = None) -> Figure:
    """Closed-loop evidence (T Fig. 11): column-energy ratios ``r_q95`` (solid) and
    ``r_max`` (thin, lighter) on a log scale (top) and the applied ``c_used_min``
    (bottom), median over seeds, for the optimizers that clip, around injected events."""
    style = style or study_style(study)
    lo, hi = _event_window(study, n_events)
    steps = study.steps
    rows = steps[(steps["step"] >= lo) & (steps["step"] <= hi) & steps["optimizer"].isin(clipping_optimizers(study))]
    groups = list(panels(study, rows))
    fig, axes = new_figure(2, len(groups), panel=(4.6, 2.8), sharex="col", sharey="row")
    for col, (title, part_rows) in enumerate(groups):
        top, bottom = axes[0, col], axes[1, col]
        for label, part in series(study, part_rows):
            q95, rmax, cmin = (median_band(part, c)["median"] for c in ("r_q95", "r_max", "c_used_min"))
            line = style.line(label, len(q95))
            top.plot(q95.index, q95, linewidth=1.3, **{**line, "label": f"{label} r_q95"})
            top.plot(rmax.index, rmax, linewidth=0.8, alpha=0.6, **{**line, "label": f"{label} r_max", "marker": None})
            bottom.plot(cmin.index, cmin, linewidth=1.3, **line)
        for ax in (top, bottom):
            mark_events(ax, event_steps(study), lo, hi)
        log_axis(top)
        top.set_title(title)
        bottom.set_xlabel("step")
    axes[0, 0].set_ylabel("r = E_j / E_ref")
    axes[1, 0].set_ylabel("c_used_min")
    figure_legend(fig, [axes[0, 0]], max_cols=2)
    return finish(fig, f"{study.name}: closed-loop clipping evidence (median over seeds)")
