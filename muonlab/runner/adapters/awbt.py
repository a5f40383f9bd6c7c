"""AWB-T (SPEC 2.1): ``W = W0`` (d x d), loss ``1/2 ||AWB - T||^2``; metric
``rel_dist = ||W - W*||_F / ||W*||_F``; injection basis: the columns of V (None when
``fix_V``: V = I, so the injection scales W's columns without a matmul)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from muonlab.toyproblems import AWBT, AWBTBatch

from ..task import Task, summed
from .base import Adapter, Seeds
from .matrix import matrix_task


def build(seeds: Seeds, device: torch.device, dtype: torch.dtype) -> Task:
    """The AWB-T task of ``seeds`` (see the module docstring)."""
    settings = seeds.config.problem_settings()
    shared = dict(**settings.kwargs(), dtype=dtype, device=device)
    problem = AWBTBatch.from_seeds(seeds.seeds, **shared) if seeds.batched else AWBT(seed=seeds.config.seed, **shared)
    W = nn.Parameter(problem.W0.clone())
    star_norm = torch.linalg.matrix_norm(problem.W_star)

    def metrics() -> dict[str, Tensor]:
        return {"rel_dist": torch.linalg.matrix_norm(W.detach() - problem.W_star) / star_norm}

    return matrix_task(
        seeds,
        W,
        lambda step: summed(problem.loss(W)),
        basis=None if settings.fix_V else problem.V,
        metrics=metrics,
        loss_fn=lambda params: problem.loss(params[0]),
    )


ADAPTER = Adapter(build)
