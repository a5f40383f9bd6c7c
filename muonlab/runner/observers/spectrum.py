"""``[diagnostics] spectrum``: the Hessian spectral density by stochastic Lanczos
quadrature at the end of the run (:func:`muonlab.diagnostics.slq_density`), written to
``runs/<run_id>.spectrum.csv``."""

from __future__ import annotations

import numpy as np

from muonlab.diagnostics import SpectralDensity, hessian_operator, slq_density

from ..settings import int_at_least
from .protocol import Artifacts, Diagnostic, settings_record

SETTINGS = (
    int_at_least("n_probes", 1, 4, "Rademacher probes of stochastic Lanczos quadrature"),
    int_at_least("n_steps", 1, 40, "Lanczos steps per probe"),
    int_at_least("grid", 2, 400, "points of the density grid"),
)
SpectrumSpec = settings_record("SpectrumSpec", SETTINGS, __name__)


def spectrum_columns(density: SpectralDensity) -> dict[str, np.ndarray]:
    """Columns of ``runs/<run_id>.spectrum.csv``: ``eigenvalue`` (the grid) and ``density``."""
    return {"eigenvalue": density.grid.numpy(), "density": density.density.numpy()}


class Spectrum(Diagnostic):
    """SLQ density of the seed's Hessian (its own ``loss_fn``) at the final parameters;
    the probes are drawn from a generator derived from the run seed."""

    name = "spectrum"
    description = ("Hessian spectral density by SLQ at the end of the run, runs/<run_id>.spectrum.csv; "
                   "keys n_probes, n_steps, grid")
    settings = SETTINGS
    spec = SpectrumSpec
    needs_loss_fn = True

    def finish(self) -> Artifacts:
        sp, view = self.options, self.view
        seed = int(np.random.SeedSequence([view.seed, 1]).generate_state(1)[0])
        hessian = hessian_operator(view.loss_fn, [p.detach().clone() for p in view.params])
        density = slq_density(hessian, n_probes=sp.n_probes, n_steps=sp.n_steps, grid=sp.grid, seed=seed)
        return {"spectrum": spectrum_columns(density)}
