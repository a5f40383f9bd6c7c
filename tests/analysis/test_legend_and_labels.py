"""A crowded figure legend and long series labels (a study with controls: 13 series,
matched learning rates like 0.0023655693306786504): the legend must grow the figure
rather than cover or squeeze the panels, and labels must stay short and distinct."""

from __future__ import annotations

import numpy as np
import pandas as pd
from test_plot_layout import legend_problems

from muonlab.analysis.grouping import series
from muonlab.analysis.style import figure_legend, finish, new_figure, themed

LONG = "TrasMuon-NOCLIP matched_step matched to TrasMuon-Clip-only lr=0.0023655693306786504"


def test_a_crowded_legend_grows_the_figure_and_covers_no_panel() -> None:
    with themed():
        fig, axes = new_figure(1, 2, sharey=True)
        for i in range(14):
            for ax in axes[0]:
                ax.plot(np.arange(10), np.arange(10) + i, label=f"{LONG} #{i}")
        for ax in axes[0]:
            ax.set_xlabel("step")
        panel_height = fig.get_figheight()
        figure_legend(fig, axes[0])
        finish(fig, "crowded")
    # The figure grew by the legend (14 long entries: taller than half the planned
    # figure), so the panels keep at least half their planned height.
    assert fig.get_figheight() > 1.5 * panel_height
    renderer = fig.canvas.get_renderer()
    for ax in axes[0]:
        assert ax.get_window_extent(renderer).height > 0.5 * panel_height * fig.dpi
    assert legend_problems("crowded", fig) == []


class _Study:
    """The two attributes ``series`` reads from a loaded study."""

    def __init__(self, summary: pd.DataFrame, hparams: list[str]) -> None:
        self.summary, self.swept_hparams = summary, hparams
        self.optimizers = list(dict.fromkeys(summary["optimizer"]))


def test_series_labels_are_short_distinct_and_name_the_control() -> None:
    summary = pd.DataFrame({
        "optimizer": ["NorMuon", "NorMuon", "NOCLIP", "NOCLIP", "NOCLIP"],
        "control": ["none", "no_injection", "matched_step", "matched_step", "none"],
        "matched_to": [np.nan, np.nan, "Clip-only", "Clip-sf", np.nan],
        # two matched rates equal to 3 digits: a 4th digit tells them apart
        "lr": [0.003, 0.003, 0.0023655693306786504, 0.0023651, 0.003],
    })
    study = _Study(summary, ["control", "matched_to", "lr"])
    labels = [label for label, _ in series(study, summary)]
    assert labels == [
        "NorMuon lr=0.003",
        "NorMuon no_injection lr=0.003",
        "NOCLIP matched_step matched to Clip-only lr=0.002366",
        "NOCLIP matched_step matched to Clip-sf lr=0.002365",
        "NOCLIP lr=0.003",
    ]
    # a subset of the rows is labelled as in the whole study (digits from the summary)
    assert [label for label, _ in series(study, summary.iloc[2:3])] == [labels[2]]


def test_a_series_of_one_point_is_drawn_as_a_marker() -> None:
    """One evaluation (a short PINN run's rel-L2) is a line of one point: invisible
    unless it has a marker."""
    from muonlab.analysis.style import StudyStyle

    style = StudyStyle(["muon"], {"muon": ["muon"]})
    with themed():
        fig, axes = new_figure(1, 1)
        (line,) = axes[0, 0].plot([120], [1.3], **style.line("muon", 1))
    assert line.get_marker() not in ("", "None", None, " ")
    assert line.get_markevery() is not None
