"""muonlab: controlled studies of Muon-family optimizers.

Subpackages: ``optim`` (optimizers), ``toyproblems`` (AWB-T, injection, river valley,
digits), ``pinn`` (Helmholtz with random-ROI sampling), ``diagnostics`` (Hessian tools,
spikes, projections), ``runner`` (studies, plugin problems), ``analysis`` (tables and
plots). Each re-exports its public names (SPEC 10); ``muonlab.optim`` etc. are also
reachable as attributes of this package, imported on first use (``analysis`` pulls in
matplotlib, which a training worker does not need).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from types import ModuleType

try:
    __version__ = version("muonlab")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

SUBPACKAGES = ("optim", "toyproblems", "pinn", "diagnostics", "runner", "analysis")
__all__ = ["__version__", *SUBPACKAGES]


def __getattr__(name: str) -> ModuleType:
    if name in SUBPACKAGES:
        return importlib.import_module(f"muonlab.{name}")
    raise AttributeError(f"module 'muonlab' has no attribute {name!r}")
