"""Run observers: the study's ``[diagnostics]`` recorded along a run (SPEC 4).

Each diagnostic is a plugin (:class:`~.protocol.Diagnostic`: settings with defaults and
allowed values, ``before_step``, ``after_step -> columns``, ``finish -> artifacts``) in
its own module, registered by key in :data:`~.registry.DIAGNOSTICS`; validation
(:func:`~.settings.parse_diagnostics`) and ``muonlab list`` read the registry, and the
run loop drives :class:`~.composite.RunObserver`, the composite of the enabled plugins
over the seeds of a run or seed batch. The math lives in :mod:`muonlab.diagnostics`;
the plugins adapt it to a run.

Observers never change the trajectory: parameters, gradients and optimizer state are
read through detached copies, Hessians are built on clones of the parameters from the
seed's fixed functional loss (``Task.loss_fn``), Lanczos and SLQ draw from local
generators seeded by the run seed, and nothing is written back.
"""

from .composite import RunObserver
from .protocol import Artifacts, Diagnostic
from .registry import DIAGNOSTICS
from .seed_view import MOMENTUM_KEYS, SeedView, momentum_of
from .settings import DiagnosticsSpec, parse_diagnostics

__all__ = [
    "DIAGNOSTICS",
    "MOMENTUM_KEYS",
    "Artifacts",
    "Diagnostic",
    "DiagnosticsSpec",
    "RunObserver",
    "SeedView",
    "momentum_of",
    "parse_diagnostics",
]
