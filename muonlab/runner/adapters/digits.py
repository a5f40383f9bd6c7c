"""Digits MLP (SPEC 2.4): mini-batch cross-entropy of step t; Muon-family optimizers get
the hybrid split (hidden 2-D weight to the matrix optimizer, the rest to AdamW),
baselines all parameters; metrics ``test_loss`` and ``test_acc``. The Hessian loss is
the cross-entropy of a fixed evaluation batch: the batch stream's draw for step 0, which
no training step uses (steps start at 1).

A cell is a vmapped ensemble (:class:`~muonlab.toyproblems.DigitsMLPBatch`): each seed's
own split, init and mini-batches, parameters stacked ``(S, ...)``; the hybrid split is
the unbatched one applied per slice (``hybrid(batch_ndim=1)``: the matrix side in
batched mode, AdamW's elementwise update with per-seed statistics), so no statistic
mixes seeds. A run calls the module itself.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from muonlab.toyproblems import DigitsMLP, DigitsMLPBatch

from ..split import wants_hybrid
from ..task import Task, summed
from .base import Adapter, Seeds, network_optimizer, split_limit


def build(seeds: Seeds, device: torch.device, dtype: torch.dtype) -> Task:
    """The digits task of ``seeds`` (see the module docstring)."""
    s = seeds.settings
    problems = [DigitsMLP(seed, **s, dtype=dtype, device=device) for seed in seeds.seeds]
    named = seeds.parameters([p.model for p in problems])
    optimizer = network_optimizer(seeds, named, hybrid=wants_hybrid(seeds.config))
    batch_loss: Callable[[int], Tensor]
    if seeds.batched:
        ensemble, params = DigitsMLPBatch(problems), dict(named)
        batch_loss = lambda step: ensemble.batch_loss(params, step)  # noqa: E731
        test_loss = lambda: ensemble.loss(params, ensemble.X_test, ensemble.y_test)  # noqa: E731
        accuracy = lambda: ensemble.accuracy(params)  # noqa: E731
        loss_fn = None
    else:
        (problem,) = problems
        batch_loss, test_loss, accuracy = problem.batch_loss, problem.test_loss, problem.accuracy
        loss_fn = problem.loss_fn(*problem.batch(0))

    def metrics() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"test_loss": test_loss(), "test_acc": accuracy()}

    return Task(
        optimizer,
        [p for _, p in named],
        lambda step: summed(batch_loss(step)),
        metrics=metrics,
        finals=lambda: {f"final_{k}": v for k, v in metrics().items()},
        loss_fn=loss_fn,
    )


ADAPTER = Adapter(build, batch_limit=split_limit)
