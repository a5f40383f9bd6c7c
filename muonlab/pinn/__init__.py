"""Helmholtz PINN with the random-ROI sampling stress protocol (SPEC 3, T Appendix F).

Knows nothing about optimizers: the runner pairs ``Helmholtz`` with them.
"""

from muonlab.pinn.helmholtz import CollocationBatch, Helmholtz, HelmholtzSettings, LossTerms
from muonlab.pinn.laplacian import (
    LAPLACIANS,
    forward_laplacian,
    laplacian_autograd,
    laplacian_func,
    mlp_laplacian,
)
from muonlab.pinn.network import ACTIVATIONS, MLP, mlp_forward
from muonlab.pinn.roi import ROI_PATCHES, is_roi_event, roi_event_steps, roi_patch_for_step
from muonlab.streams import step_rng

__all__ = [
    "ACTIVATIONS",
    "LAPLACIANS",
    "MLP",
    "ROI_PATCHES",
    "CollocationBatch",
    "Helmholtz",
    "HelmholtzSettings",
    "LossTerms",
    "forward_laplacian",
    "is_roi_event",
    "laplacian_autograd",
    "laplacian_func",
    "mlp_forward",
    "mlp_laplacian",
    "roi_event_steps",
    "roi_patch_for_step",
    "step_rng",
]
