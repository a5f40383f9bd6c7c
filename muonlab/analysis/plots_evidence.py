"""Evidence plots (SPEC 11): the spike count as a curve over the threshold rho, and the
per-column closed loop (event-triggered column scales, injected vs other vs placebo).

Each function takes a :class:`~muonlab.analysis.load.Study`, writes one PNG into
``DIR/plots/`` and returns its path (None when the study has nothing to show). Lines are
the median over seeds, bands the interquartile range over seeds; panels are the swept
problem settings; only injected runs (control ``none``) are drawn.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .closed_loop import KINDS, event_triggered  # noqa: E402
from .load import Study  # noqa: E402


def _injected(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["control"] == "none"] if "control" in frame.columns else frame


def _cells(study: Study, frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    settings = study.swept_settings
    if not settings:
        return [(study.problem, frame)]
    return [(", ".join(f"{c}={v}" for c, v in zip(settings, key if isinstance(key, tuple) else (key,))), rows)
            for key, rows in frame.groupby(settings, sort=False)]


def plot_spike_rho(study: Study) -> Path | None:
    """``spike_count@RHO`` against rho (log axis) per optimizer: median and IQR over seeds."""
    summary = _injected(study.summary)
    columns = [c for c in summary.columns if c.startswith("spike_count@")]
    if not columns or summary[columns].isna().all().all():
        return None
    rhos = np.array([float(c.split("@")[1]) for c in columns])
    cells = _cells(study, summary)
    colors = dict(zip(study.optimizers, sns.color_palette(n_colors=len(study.optimizers))))
    fig, axes = plt.subplots(1, len(cells), figsize=(max(6.5, 4.6 * len(cells)), 3.8), squeeze=False, sharey=True)
    for ax, (title, rows) in zip(axes[0], cells):
        for optimizer, runs in rows.groupby("optimizer", sort=False):
            values = runs[columns].to_numpy(float)
            q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
            ax.plot(rhos, median, marker="o", color=colors[optimizer], label=optimizer)
            ax.fill_between(rhos, q25, q75, color=colors[optimizer], alpha=0.2, linewidth=0)
        ax.set_xscale("log")
        ax.set_xticks(rhos, [f"{r:g}" for r in rhos])
        ax.minorticks_off()
        ax.set_title(title)
        ax.set_xlabel("threshold rho (peak loss / pre-event baseline)")
    axes[0][0].set_ylabel("events with peak ratio >= rho")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(f"{study.name}: spike count over the threshold (median, IQR over seeds)")
    fig.tight_layout()
    path = study.path / "plots" / "spike_count_rho.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_closed_loop_columns(study: Study) -> Path | None:
    """Event-triggered column scales per clip optimizer: injected columns around their
    event, the other columns, and placebo steps half-way between events."""
    traces = _injected(event_triggered(study))
    if traces.empty:
        return None
    # Optimizers whose scales move (NOCLIP's are 1 throughout).
    moving = [o for o, t in traces.groupby("optimizer", sort=False) if t["c"].std() > 0]
    traces = traces[traces["optimizer"].isin(moving)]
    if traces.empty:
        return None
    panels = [(f"{title}\n{optimizer}", rows[rows["optimizer"] == optimizer])
              for title, rows in _cells(study, traces) for optimizer in moving]
    colors = dict(zip(KINDS, sns.color_palette(n_colors=len(KINDS))))
    fig, axes = plt.subplots(1, len(panels), figsize=(max(6.5, 4.2 * len(panels)), 3.8), squeeze=False, sharey=True)
    for ax, (title, rows) in zip(axes[0], panels):
        for kind in KINDS:
            part = rows[rows["kind"] == kind].pivot_table(index="k", columns="run_id", values="c")
            q25, median, q75 = (part.quantile(q, axis=1) for q in (0.25, 0.5, 0.75))
            label = {"injected": "injected columns (event at 0)", "other": "other columns",
                     "placebo": "placebo (half-way, no event)"}[kind]
            ax.plot(part.index, median, color=colors[kind], label=label)
            ax.fill_between(part.index, q25, q75, color=colors[kind], alpha=0.2, linewidth=0)
        ax.axvline(0, color="0.5", linestyle="--", linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("steps from event / placebo step")
    axes[0][0].set_ylabel("applied column scale c_j (mean over the set)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{study.name}: per-column closed loop (median, IQR over seeds)")
    fig.tight_layout()
    path = study.path / "plots" / "closed_loop_columns.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
