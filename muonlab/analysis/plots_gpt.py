"""Standard plots of transformer (``gpt``) studies (SPEC 6, 12).

Every function takes a :class:`~muonlab.analysis.load.Study` of problem ``gpt``, writes
one PNG into ``DIR/plots/`` and returns its path. Series are the optimizers (with their
swept hyperparameters and schedule keys, e.g. ``warmup``) and panels the combinations of
swept problem settings (e.g. ``inject_layers = ["none", "all"]``), as in the other plots.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .load import Study
from .plots import _colors, _figure, _legend, _median_band, _panels, _save, _series


def _wide(n_panels: int, *, height: float = 3.4):
    """``_figure`` at least ``MIN_WIDTH`` wide."""
    fig, axes = _figure(1, n_panels, height=height)
    fig.set_figwidth(max(MIN_WIDTH, fig.get_figwidth()))
    return fig, axes

MIN_WIDTH = 10.0  # inches: room for the title and a four-column legend under one panel
GRAM_COLUMNS = {"gram_q": "Q", "gram_k": "K", "gram_v": "V", "gram_o": "O", "gram_mlp": "MLP"}


def plot_gpt_validation(study: Study) -> Path:
    """Validation loss minus the entropy floor over steps (log scale): median over seeds
    with the IQR band. The floor is the exact entropy rate of the Markov source, so the
    curve is the distance to the best achievable loss."""
    panels = list(_panels(study, study.steps))
    fig, axes = _wide(len(panels), height=4.2)
    colors = _colors(study)
    floor = float(study.summary["entropy_floor"].dropna().iloc[0]) if study.summary["entropy_floor"].notna().any() else np.nan
    column = "val_gap" if np.isfinite(floor) else "val_loss"
    for ax, (title, rows) in zip(axes[0], panels):
        for label, part in _series(study, rows):
            band = _median_band(part.dropna(subset=[column]), column)
            ax.plot(band.index, band["median"], color=colors[label], label=label, linewidth=1.4, marker="o", markersize=3)
            ax.fill_between(band.index, band["q25"], band["q75"], color=colors[label], alpha=0.2, linewidth=0)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss - entropy floor (nats)" if column == "val_gap" else "validation loss (nats)")
    subtitle = f" (entropy floor {floor:.3f} nats)" if np.isfinite(floor) else ""
    fig.suptitle(f"{study.name}: validation gap to the entropy floor{subtitle}")
    _legend(fig, axes[0, 0])
    return _save(fig, study, "gpt_validation.png")


def _final_gram(study: Study) -> pd.DataFrame:
    """Per run, the Gram ``r_avg`` of each layer type at its last evaluation step."""
    columns = [c for c in GRAM_COLUMNS if c in study.steps.columns]
    rows = study.steps.dropna(subset=columns, how="all")
    return rows.loc[rows.groupby("run_id")["step"].idxmax()]


def plot_gpt_gram(study: Study) -> Path:
    """Gram diagonal dominance ``r_avg`` (RMNP eq. 6) of the momenta per layer type at the
    last evaluation (median over seeds, quartile whiskers): RMNP Figs. 3-4 on the model."""
    last = _final_gram(study)
    panels = list(_panels(study, last))
    fig, axes = _wide(len(panels), height=4.2)
    colors = _colors(study)
    kinds = [c for c in GRAM_COLUMNS if c in last.columns]
    for ax, (title, rows) in zip(axes[0], panels):
        series = list(_series(study, rows))
        width = 0.8 / max(1, len(series))
        for i, (label, part) in enumerate(series):
            x = np.arange(len(kinds)) + (i - (len(series) - 1) / 2) * width
            values = part[kinds]
            median, q25, q75 = values.median(), values.quantile(0.25), values.quantile(0.75)
            ax.bar(x, median.to_numpy(), width, color=colors[label], label=label)
            ax.errorbar(x, median.to_numpy(), yerr=[(median - q25).to_numpy(), (q75 - median).to_numpy()],
                        fmt="none", ecolor="0.2", linewidth=0.8)
        ax.set_xticks(np.arange(len(kinds)), [GRAM_COLUMNS[k] for k in kinds])
        ax.set_title(title)
        ax.set_xlabel("layer type")
        ax.set_ylabel("Gram diagonal dominance r_avg")
    fig.suptitle(f"{study.name}: Gram diagonal dominance of the momenta (last evaluation)")
    _legend(fig, axes[0, 0])
    return _save(fig, study, "gpt_gram.png")


def plot_gpt_threshold(study: Study) -> Path:
    """Steps until the 10-step mean training loss reaches the study's threshold, one dot
    per seed and the median as a bar; runs that never reach it are drawn at the right
    edge as crosses (T Sec. 4's "reaches 7.0 in 48 steps vs 83")."""
    summary = study.summary
    panels = list(_panels(study, summary))
    fig, axes = _wide(len(panels), height=2.4 + 0.3 * len(list(_series(study, summary))))
    colors = _colors(study)
    never = float(summary["steps_done"].max())
    for ax, (title, rows) in zip(axes[0], panels):
        series = list(_series(study, rows))
        for i, (label, part) in enumerate(series):
            steps = part["steps_to_threshold"].to_numpy(dtype=float)
            reached = steps[np.isfinite(steps)]
            y = np.full(len(reached), i, dtype=float)
            ax.scatter(reached, y, color=colors[label], s=20, zorder=3, label=label)
            if len(reached):
                ax.plot([np.median(reached)] * 2, [i - 0.3, i + 0.3], color=colors[label], linewidth=2.5)
            misses = int((~np.isfinite(steps)).sum())
            if misses:
                ax.scatter([never] * misses, [i] * misses, marker="x", color=colors[label], s=30, zorder=3)
        ax.set_yticks(range(len(series)), [label for label, _ in series])
        ax.set_xlim(0, never * 1.04)
        ax.set_title(title)
        ax.set_xlabel("steps to the loss threshold (x: not reached)")
    fig.suptitle(f"{study.name}: steps to the training-loss threshold")
    fig.tight_layout()
    return _save(fig, study, "gpt_threshold.png")


def plot_gpt_study(study: Study) -> list[Path]:
    """The transformer plots that fit the study."""
    paths = [plot_gpt_validation(study), plot_gpt_threshold(study)]
    if any(c in study.steps.columns for c in GRAM_COLUMNS):
        paths.append(plot_gpt_gram(study))
    return paths
