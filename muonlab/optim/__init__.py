"""Muon-family optimizers behind one torch.optim-style API (SPEC section 1, SPEC-optim).

``build(name, params, **hp)`` constructs any registered optimizer; ``hybrid(...)`` splits
a model between a matrix optimizer and AdamW; ``zeropower`` is the orthogonaliser.
Every optimizer from ``build`` has ``last_stats()`` / ``last_stats_tensors()`` and
``train()`` / ``eval()``; the Muon family takes ``momentum_hook`` and ``batched``.
A name outside the registry may be an import path ``module:Class`` or a
``muonlab.optimizers`` entry point (:mod:`.external`).
"""

from .amuse import AMUSE
from .baselines import SGD, AdamW, ScheduleFreeAdamW
from .damuon import DAMuon
from .dfmuon import DFMuon
from .hybrid import HybridOptimizer, hybrid
from .muon import Muon
from .normuon import NorMuon
from .registry import OPTIMIZERS, build, describe, hyperparameters, optimizer_class
from .rmnp import RMNP
from .scmuon import SCMuon
from .trasmuon import TrasMuon
from .zeropower import zeropower

__all__ = [
    "AMUSE",
    "OPTIMIZERS",
    "RMNP",
    "SGD",
    "AdamW",
    "DAMuon",
    "DFMuon",
    "HybridOptimizer",
    "Muon",
    "NorMuon",
    "SCMuon",
    "ScheduleFreeAdamW",
    "TrasMuon",
    "build",
    "describe",
    "hybrid",
    "hyperparameters",
    "optimizer_class",
    "zeropower",
]
