"""Analysis of study directories (SPEC 6): ``load_study``, median (IQR) tables, plots.

Reads study directories only; knows nothing about the runner's internals. Plot
functions return :class:`matplotlib.figure.Figure` objects; ``save_figures`` /
``plot_study`` write them. Importing this package changes no matplotlib state.
"""

from .figures import plot_study, save_figures, study_figures
from .grouping import study_style
from .load import Study, StudyLoadError, load_study
from .plots import plot_closed_loop, plot_event_window, plot_loss_curves
from .plots_pinn import (
    plot_pinn_distributions,
    plot_pinn_lr_sensitivity,
    plot_pinn_step_size,
    plot_pinn_study,
    plot_pinn_training,
)
from .plots_diagnostics import load_spectra, plot_diagnostics, plot_dom_ratio, plot_gram_dominance, plot_spectra, plot_spectral_density
from .tables import TableResult, format_cell, format_number, quartiles, table, to_markdown, write_table

__all__ = [
    "Study",
    "StudyLoadError",
    "TableResult",
    "format_cell",
    "format_number",
    "load_spectra",
    "load_study",
    "plot_closed_loop",
    "plot_diagnostics",
    "plot_dom_ratio",
    "plot_event_window",
    "plot_gram_dominance",
    "plot_loss_curves",
    "plot_pinn_distributions",
    "plot_pinn_lr_sensitivity",
    "plot_pinn_step_size",
    "plot_pinn_study",
    "plot_pinn_training",
    "plot_spectra",
    "plot_spectral_density",
    "plot_study",
    "quartiles",
    "save_figures",
    "study_figures",
    "study_style",
    "table",
    "to_markdown",
    "write_table",
]
