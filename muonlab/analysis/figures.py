"""The standard figures of a study and the separate step that saves them (SPEC 6).

``study_figures(study)`` builds every figure that fits the study (by file name);
``save_figures(figures, out)`` writes them as PNGs; ``plot_study(study, out=None)`` does
both, into ``DIR/plots/`` by default (what ``muonlab plot DIR`` and ``muonlab run`` do).
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from .grouping import study_style
from .load import Study
from .plots import clipping_optimizers, plot_closed_loop, plot_event_window, plot_loss_curves
from .plots_diagnostics import plot_diagnostics
from .plots_evidence import plot_closed_loop_columns, plot_spike_rho
from .plots_gpt import plot_gpt_study
from .plots_pinn import plot_pinn_study
from .style import DPI


def study_figures(study: Study) -> dict[str, Figure]:
    """The standard figures that fit the study, by file name (none when every run
    failed): loss curves; the event window and the closed-loop plot when the study has
    ``[injection]`` events (the latter when some optimizer clipped), with the spike count
    over rho and the per-column closed loop when recorded
    (:mod:`muonlab.analysis.plots_evidence`); the diagnostics
    plots (dominant ratio, Gram dominance, spectral density) when they were recorded;
    for a ``helmholtz`` study the PINN plots instead of the loss/event/closed-loop ones;
    for a ``gpt`` study the transformer plots besides them.
    All share one :func:`~muonlab.analysis.grouping.study_style`."""
    if study.steps.empty:  # every run failed: nothing to draw (the manifest says why)
        return {}
    style = study_style(study)
    if study.problem == "helmholtz":
        return {**plot_pinn_study(study, style=style), **plot_diagnostics(study, style=style)}
    figures = {"loss.png": plot_loss_curves(study, style=style)}
    injected = "injection" in study.config and len(study.events) > 0
    if injected:
        figures["event_window.png"] = plot_event_window(study, style=style)
    if injected and clipping_optimizers(study):
        figures["closed_loop.png"] = plot_closed_loop(study, style=style)
    evidence = {"spike_count_rho.png": plot_spike_rho(study, style=style) if injected else None,
                "closed_loop_columns.png": plot_closed_loop_columns(study) if injected else None}
    figures.update({name: fig for name, fig in evidence.items() if fig is not None})
    if study.problem == "gpt":
        figures.update(plot_gpt_study(study, style=style))
    figures.update(plot_diagnostics(study, style=style))
    return figures


def save_figures(figures: dict[str, Figure], out: str | Path, *, dpi: int = DPI) -> list[Path]:
    """Write each figure as ``out/<name>`` (``out`` created) and return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=dpi)
        paths.append(out / name)
    return paths


def plot_study(study: Study, out: str | Path | None = None) -> list[Path]:
    """Build the study's standard figures and save them into ``out`` (default
    ``DIR/plots/``); returns the paths written."""
    return save_figures(study_figures(study), study.path / "plots" if out is None else out)
