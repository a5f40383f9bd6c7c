"""River valley (SPEC 2.3): ``W = W0 = 0`` (m x n); the objective carries the step's
gradient noise (the problem's ``stochastic_loss``), the logged loss is the exact
``loss(W)``; metrics ``river_progress`` and ``wall_energy``; injection basis: W's
columns; the Hessian loss is the exact (noise-free) ``loss(W)``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from muonlab.toyproblems import RiverValley, RiverValleyBatch

from ..task import StepLoss, Task, summed
from .base import Adapter, Seeds
from .matrix import matrix_task


def build(seeds: Seeds, device: torch.device, dtype: torch.dtype) -> Task:
    """The river-valley task of ``seeds`` (see the module docstring)."""
    s = seeds.settings
    if seeds.batched:
        problem = RiverValleyBatch.from_seeds(seeds.seeds, **s, dtype=dtype, device=device)
    else:
        problem = RiverValley(**s, seed=seeds.config.seed, dtype=dtype, device=device)
    W = nn.Parameter(problem.W0.clone())

    def loss(step: int) -> StepLoss:
        if problem.noise == "none":
            return summed(problem.loss(W))
        with torch.no_grad():
            exact = problem.loss(W)
        objective, _ = summed(problem.stochastic_loss(W, step))
        return objective, exact

    def metrics() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"river_progress": problem.river_progress(W), "wall_energy": problem.wall_energy(W)}

    return matrix_task(seeds, W, loss, basis=None, metrics=metrics, loss_fn=lambda params: problem.loss(params[0]))


ADAPTER = Adapter(build)
