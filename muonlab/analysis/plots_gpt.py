"""Standard plots of transformer (``gpt``) studies (SPEC 6, 12).

Every function takes a :class:`~muonlab.analysis.load.Study` of problem ``gpt`` and
returns a :class:`matplotlib.figure.Figure` (saving is
:func:`muonlab.analysis.figures.save_figures`). Series are the optimizers (with their
swept hyperparameters and schedule keys, e.g. ``warmup``) and panels the combinations of
swept problem settings (e.g. ``inject_layers = ["none", "all"]``), as in the other plots.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .grouping import median_band, panels, series, study_style
from .load import Study
from .style import StudyStyle, figure_legend, finish, log_axis, new_figure, themed

BAND_ALPHA = 0.22
ROW_HEIGHT = 0.3  # inches per configuration on a per-configuration y axis
GRAM_COLUMNS = {"gram_q": "Q", "gram_k": "K", "gram_v": "V", "gram_o": "O", "gram_mlp": "MLP"}


def entropy_floor(study: Study) -> float:
    """The source's entropy rate (NaN for text data)."""
    floors = study.summary["entropy_floor"].dropna()
    return float(floors.iloc[0]) if len(floors) else float("nan")


@themed()
def plot_gpt_validation(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Validation loss minus the entropy floor over steps (log scale): median over seeds
    with the IQR band. The floor is the exact entropy rate of the Markov source, so the
    curve is the distance to the best achievable loss (text data: the validation loss)."""
    style = style or study_style(study)
    floor = entropy_floor(study)
    column = "val_gap" if np.isfinite(floor) else "val_loss"
    groups = list(panels(study, study.steps.dropna(subset=[column])))
    fig, axes = new_figure(1, len(groups), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        for label, part in series(study, rows):
            band = median_band(part, column)
            ax.fill_between(band.index, band["q25"], band["q75"], color=style.series(label).color, alpha=BAND_ALPHA, linewidth=0)
            ax.plot(band.index, band["median"], linewidth=1.3, **style.line(label, len(band)))
        log_axis(ax)
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0, 0].set_ylabel("val loss - entropy floor (nats)" if column == "val_gap" else "validation loss (nats)")
    figure_legend(fig, axes[0])
    floor_text = f", entropy floor {floor:.3f} nats" if np.isfinite(floor) else ""
    return finish(fig, f"{study.name}: validation gap to the floor, median and IQR over seeds{floor_text}")


def _last_gram(study: Study) -> pd.DataFrame:
    """Per run, its row at the last step with Gram statistics."""
    columns = [c for c in GRAM_COLUMNS if c in study.steps.columns]
    rows = study.steps.dropna(subset=columns, how="all")
    return rows.loc[rows.groupby("run_id")["step"].idxmax()]


@themed()
def plot_gpt_gram(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Gram diagonal dominance ``r_avg`` (RMNP eq. 6) of the momenta per layer type at the
    last evaluation, median over seeds with quartile whiskers (RMNP Figs. 3-4 on the
    transformer)."""
    style = style or study_style(study)
    last = _last_gram(study)
    kinds = [c for c in GRAM_COLUMNS if c in last.columns]
    groups = list(panels(study, last))
    fig, axes = new_figure(1, len(groups), panel=(6.0, 3.4), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        parts = list(series(study, rows))
        width = 0.8 / max(1, len(parts))
        for i, (label, part) in enumerate(parts):
            x = np.arange(len(kinds)) + (i - (len(parts) - 1) / 2) * width
            median, q25, q75 = part[kinds].median(), part[kinds].quantile(0.25), part[kinds].quantile(0.75)
            ax.bar(x, median.to_numpy(), width, color=style.series(label).color, label=label)
            ax.errorbar(x, median.to_numpy(), yerr=[(median - q25).to_numpy(), (q75 - median).to_numpy()],
                        fmt="none", ecolor="0.2", linewidth=0.8)
        ax.set_xticks(np.arange(len(kinds)), [GRAM_COLUMNS[k] for k in kinds])
        ax.set_title(title)
        ax.set_xlabel("layer type")
    axes[0, 0].set_ylabel("Gram diagonal dominance r_avg")
    figure_legend(fig, axes[0])
    return finish(fig, f"{study.name}: Gram diagonal dominance of the momenta per layer type (last evaluation)")


@themed()
def plot_gpt_threshold(study: Study, *, style: StudyStyle | None = None) -> Figure:
    """Steps until the 10-step mean training loss reaches the study's threshold: one dot
    per seed and the median as a bar per configuration; runs that never reach it are
    crosses at the right edge (T Sec. 4's "reaches 7.0 in 48 steps vs 83")."""
    style = style or study_style(study)
    summary = study.summary
    never = float(summary["steps_done"].max())
    groups = list(panels(study, summary))
    n_rows = max(len(list(series(study, rows))) for _, rows in groups)
    fig, axes = new_figure(1, len(groups), panel=(4.6, 1.2 + ROW_HEIGHT * n_rows), sharey=True)
    for ax, (title, rows) in zip(axes[0], groups):
        parts = list(series(study, rows))
        for y, (label, part) in enumerate(parts):
            steps = part["steps_to_threshold"].to_numpy(dtype=float)
            reached = steps[np.isfinite(steps)]
            color = style.series(label).color
            ax.scatter(reached, np.full(len(reached), y), s=18, color=color, zorder=3)
            if len(reached):
                ax.plot([np.median(reached)] * 2, [y - 0.3, y + 0.3], color=color, linewidth=2.5)
            misses = int(np.sum(~np.isfinite(steps)))
            if misses:
                ax.scatter([never] * misses, [y] * misses, marker="x", color=color, s=30, zorder=3)
        ax.set_yticks(np.arange(len(parts)), [label for label, _ in parts])
        ax.set_ylim(len(parts) - 0.5, -0.5)
        ax.set_xlim(0, never * 1.05)
        ax.set_title(title)
        ax.set_xlabel("steps to the threshold (x: not reached)")
    return finish(fig, f"{study.name}: steps to the training-loss threshold (dots: seeds, bars: medians)")


def plot_gpt_study(study: Study, *, style: StudyStyle | None = None) -> dict[str, Figure]:
    """The transformer figures that fit the study, by file name."""
    figures = {
        "gpt_validation.png": plot_gpt_validation(study, style=style),
        "gpt_threshold.png": plot_gpt_threshold(study, style=style),
    }
    if any(c in study.steps.columns for c in GRAM_COLUMNS):
        figures["gpt_gram.png"] = plot_gpt_gram(study, style=style)
    return figures
