"""Standard plots of toy-problem studies (SPEC 6): loss curves, loss around injected
events (T Fig. 10) and the closed-loop evidence r_q95 / r_max over c_used_min (T Fig. 11).

Every function takes a :class:`~muonlab.analysis.load.Study`, writes one PNG and returns
its path. Curves are the median over seeds per optimizer (and swept hyperparameter);
panels are the combinations of swept problem settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .load import Study  # noqa: E402

EVENT_COLOR = "0.5"


def _panels(study: Study, steps: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(title, rows) per combination of swept problem settings, in study order."""
    settings = study.swept_settings
    if not settings:
        yield study.problem, steps
        return
    for key, rows in steps.groupby(settings, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        yield ", ".join(f"{c}={v}" for c, v in zip(settings, key)), rows


def _series(study: Study, rows: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(label, rows) per optimizer (and swept hyperparameter values), in study order."""
    hparams = study.swept_hparams
    for optimizer in study.optimizers:
        part = rows[rows["optimizer"] == optimizer]
        if part.empty:
            continue
        if not hparams:
            yield optimizer, part
            continue
        for key, sub in part.groupby(hparams, sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            yield optimizer + " " + " ".join(f"{c}={v}" for c, v in zip(hparams, key) if pd.notna(v)), sub


def _colors(study: Study) -> dict[str, tuple[float, float, float]]:
    """One colour per series label over the whole study, so a method keeps its colour
    in every plot and panel."""
    labels = [label for label, _ in _series(study, study.summary)]
    return dict(zip(labels, sns.color_palette(n_colors=len(labels))))


def _median_band(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Median and quartiles of ``column`` over runs at each step."""
    grouped = rows.groupby("step")[column]
    return pd.DataFrame({"median": grouped.median(), "q25": grouped.quantile(0.25), "q75": grouped.quantile(0.75)})


def _event_steps(study: Study) -> np.ndarray:
    return np.sort(study.events["step"].unique()) if len(study.events) else np.array([], dtype=int)


def _event_window(study: Study, n_events: int = 3) -> tuple[int, int]:
    """Steps from half a period before the run's middle event to half a period after
    the ``n_events``-th event from it."""
    events = _event_steps(study)
    if events.size == 0:
        return int(study.steps["step"].min()), int(study.steps["step"].max())
    period = int(np.median(np.diff(events))) if events.size > 1 else int(events[0])
    first = len(events) // 2
    last = min(first + n_events - 1, len(events) - 1)
    return int(events[first] - period // 2), int(events[last] + period // 2)


def _mark_events(ax: plt.Axes, study: Study, lo: int, hi: int) -> None:
    for i, step in enumerate(e for e in _event_steps(study) if lo <= e <= hi):
        ax.axvline(step, color=EVENT_COLOR, linestyle="--", linewidth=0.8, label="outlier event" if i == 0 else None)


def _figure(n_rows: int, n_cols: int, *, height: float = 3.4) -> tuple[plt.Figure, np.ndarray]:
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5.2 * n_cols, height * n_rows), squeeze=False, sharex="col")
    return fig, axes


def _legend(fig: plt.Figure, ax: plt.Axes) -> None:
    """One legend for the figure, below the panels (never over the curves)."""
    handles, labels = ax.get_legend_handles_labels()
    if not labels:
        fig.tight_layout()
        return
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize="small", frameon=False)
    rows = -(-len(labels) // 4)
    top = 0.92 if fig.get_suptitle() else 1.0  # room for the figure title
    fig.tight_layout(rect=(0, 0.04 + 0.05 * rows, 1, top))


def _save(fig: plt.Figure, study: Study, name: str) -> Path:
    out = study.path / "plots"
    out.mkdir(exist_ok=True)
    path = out / name
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_loss_curves(study: Study) -> Path:
    """Training loss over steps: median over seeds with the IQR band, log scale."""
    panels = list(_panels(study, study.steps))
    fig, axes = _figure(1, len(panels))
    colors = _colors(study)
    for ax, (title, rows) in zip(axes[0], panels):
        for label, part in _series(study, rows):
            band, color = _median_band(part, "loss"), colors[label]
            ax.plot(band.index, band["median"], color=color, label=label, linewidth=1.2)
            ax.fill_between(band.index, band["q25"], band["q75"], color=color, alpha=0.2, linewidth=0)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (median, IQR band)")
    fig.suptitle(f"{study.name}: loss over training")
    _legend(fig, axes[0, 0])
    return _save(fig, study, "loss.png")


def plot_event_window(study: Study, *, n_events: int = 3) -> Path:
    """Loss around injected events (T Fig. 10): median over seeds per optimizer over a
    window holding ``n_events`` events, dashed lines at the events, log scale."""
    lo, hi = _event_window(study, n_events)
    window = study.steps[(study.steps["step"] >= lo) & (study.steps["step"] <= hi)]
    panels = list(_panels(study, window))
    fig, axes = _figure(1, len(panels))
    colors = _colors(study)
    for ax, (title, rows) in zip(axes[0], panels):
        for label, part in _series(study, rows):
            band = _median_band(part, "loss")
            ax.plot(band.index, band["median"], color=colors[label], label=label, linewidth=1.4)
        _mark_events(ax, study, lo, hi)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (median over seeds)")
    fig.suptitle(f"{study.name}: loss around outlier events (steps {lo}-{hi})")
    _legend(fig, axes[0, 0])
    return _save(fig, study, "event_window.png")


def plot_closed_loop(study: Study, *, n_events: int = 3) -> Path:
    """Closed-loop evidence (T Fig. 11): column-energy ratios ``r_q95`` (solid) and
    ``r_max`` (dashed) on a log scale (top) and the applied ``c_used_min`` (bottom),
    median over seeds, for the optimizers that clip, around injected events."""
    lo, hi = _event_window(study, n_events)
    steps = study.steps
    clipping = steps.groupby("optimizer")["c_used_min"].min()
    clipping = set(clipping[clipping < 1.0].index)
    rows = steps[(steps["step"] >= lo) & (steps["step"] <= hi) & steps["optimizer"].isin(clipping)]
    panels = list(_panels(study, rows))
    fig, axes = _figure(2, len(panels), height=3.0)
    colors = _colors(study)
    for col, (title, part_rows) in enumerate(panels):
        top, bottom = axes[0, col], axes[1, col]
        for label, part in _series(study, part_rows):
            color = colors[label]
            q95, rmax, cmin = (_median_band(part, c)["median"] for c in ("r_q95", "r_max", "c_used_min"))
            top.plot(q95.index, q95, color=color, label=f"{label} r_q95", linewidth=1.3)
            top.plot(rmax.index, rmax, color=color, linestyle="--", label=f"{label} r_max", linewidth=1.0)
            bottom.plot(cmin.index, cmin, color=color, label=label, linewidth=1.3)
        for ax in (top, bottom):
            _mark_events(ax, study, lo, hi)
        top.set_yscale("log")
        top.set_title(title)
        top.set_ylabel("r = E_j / E_ref")
        bottom.set_ylabel("c_used_min")
        bottom.set_xlabel("step")
    fig.suptitle(f"{study.name}: closed-loop clipping evidence (median over seeds)")
    _legend(fig, axes[0, 0])
    return _save(fig, study, "closed_loop.png")


def plot_study(study: Study) -> list[Path]:
    """The standard plots that fit the study (none when every run failed): loss curves; the event window when
    there are events; the closed-loop plot when some optimizer clipped; the diagnostics
    plots (dominant ratio, Gram dominance, spectral density) when they were recorded; for
    a ``helmholtz`` study the PINN plots instead of the loss/event/closed-loop ones
    (:func:`muonlab.analysis.plots_pinn.plot_pinn_study`), diagnostics still added."""
    from .plots_diagnostics import plot_diagnostics  # imports this module's helpers
    from .plots_pinn import plot_pinn_study  # plots_pinn builds on this module

    if study.steps.empty:  # every run failed: nothing to draw (the manifest says why)
        return []
    if study.problem == "helmholtz":
        return [*plot_pinn_study(study), *plot_diagnostics(study)]
    paths = [plot_loss_curves(study)]
    if len(study.events):
        paths.append(plot_event_window(study))
    if "c_used_min" in study.steps.columns and (study.steps["c_used_min"] < 1.0).any():
        paths.append(plot_closed_loop(study))
    if study.problem == "gpt":
        from .plots_gpt import plot_gpt_study  # plots_gpt builds on this module

        paths.extend(plot_gpt_study(study))
    paths.extend(plot_diagnostics(study))
    return paths
