"""Optimizer registry (SPEC section 1): names, classes, accepted hyperparameters, ``build``.

Registry variants are presets of one class: ``trasmuon-noclip`` (``clip=False``),
``trasmuon-clip-only`` (``rho=0``), ``trasmuon-clip-sf`` (= ``trasmuon``), ``sf-muon``
(AMUSE with ``rho=0``). A preset keyword is fixed by the variant and not accepted.
Names outside the registry resolve to external optimizers (:mod:`.external`): an import
path ``module:Class`` or a ``muonlab.optimizers`` entry point.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch

from .amuse import AMUSE
from .baselines import BASELINES
from .damuon import DAMuon
from .dfmuon import DFMuon
from .external import external_class, external_hyperparameters
from .muon import Muon
from .normuon import NorMuon
from .rmnp import RMNP
from .scmuon import SCMuon
from .trasmuon import TrasMuon

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    **BASELINES,
    "muon": Muon,
    "normuon": NorMuon,
    "trasmuon": TrasMuon,
    "trasmuon-noclip": TrasMuon,
    "trasmuon-clip-only": TrasMuon,
    "trasmuon-clip-sf": TrasMuon,
    "rmnp": RMNP,
    "sf-muon": AMUSE,
    "amuse": AMUSE,
    "da-muon": DAMuon,
    "sc-muon": SCMuon,
    "df-muon": DFMuon,
}

PRESETS: dict[str, dict[str, Any]] = {
    "trasmuon-noclip": {"clip": False},
    "trasmuon-clip-only": {"rho": 0.0},
    "sf-muon": {"rho": 0.0},
}


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The class ``build(name, ...)`` constructs: a registry entry, else an external
    optimizer (import path or entry point); a one-line ``ValueError`` when neither."""
    if name in OPTIMIZERS:
        return OPTIMIZERS[name]
    try:
        return external_class(name)
    except ValueError as exc:
        if str(exc) == f"unknown optimizer {name!r}":
            raise ValueError(
                f"unknown optimizer {name!r}; valid names: {', '.join(OPTIMIZERS)}, "
                "an installed muonlab.optimizers entry point, or an import path module:Class"
            ) from None
        raise


def describe(name: str) -> str:
    """How errors name an optimizer: ``'lion' (class Lion)`` for an external one."""
    if name in OPTIMIZERS:
        return repr(name)
    return f"{name!r} (class {optimizer_class(name).__name__})"


def hyperparameters(name: str) -> dict[str, Any]:
    """Every keyword ``build(name, ...)`` accepts, with its default (presets removed)."""
    cls = optimizer_class(name)
    if name not in OPTIMIZERS:
        return external_hyperparameters(cls)
    signature = inspect.signature(cls.__init__)
    fixed = PRESETS.get(name, {})
    return {
        key: parameter.default
        for key, parameter in signature.parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and key not in fixed
    }


def build(name: str, params: Iterable[Any], **hparams: Any) -> torch.optim.Optimizer:
    """Construct the optimizer registered as ``name`` on ``params`` (SPEC section 1)."""
    accepted = hyperparameters(name)
    for key in hparams:
        if key not in accepted:
            fixed = PRESETS.get(name, {})
            reason = f" (fixed to {fixed[key]!r} by the variant)" if key in fixed else ""
            raise ValueError(
                f"optimizer {describe(name)}: unknown hyperparameter {key!r}{reason}; valid: {', '.join(accepted)}"
            )
    cls = optimizer_class(name)
    try:
        return cls(params, **PRESETS.get(name, {}), **hparams)
    except ValueError as error:
        # A variant shares its class's checks: name the variant the user asked for.
        class_name = getattr(cls, "name", name)
        raise ValueError(str(error).replace(f"optimizer '{class_name}'", f"optimizer '{name}'", 1)) from None
