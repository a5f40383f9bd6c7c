"""Seed ensembles (SPEC 8, issue 7): the S seeds of a network cell trained as one vmapped
program. Each seed's parameters come from its own init and are stacked ``(S, ...)`` by
``torch.func.stack_module_state``; one vmapped ``functional_call`` gives the ``(S,)``
per-seed losses, whose sum is differentiated (slice i of its gradient is seed i's
gradient). The hybrid split (SPEC 1) is the unbatched one applied per slice: the hidden
weights ``(S, h, h)`` go to the matrix optimizer with ``batched=True``, the rest to AdamW,
whose elementwise update is exact on stacked tensors and whose statistics keep the seed
axis (:func:`muonlab.optim.hybrid` with ``batch_ndim=1``), so no statistic mixes seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from muonlab import optim
from muonlab.toyproblems import DigitsMLPBatch

from .batched import SeedBatch, summed
from .config import RunConfig
from .tasks import Task


def digits_batch(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> SeedBatch:
    """Digits MLP (SPEC 2.4) for every seed of ``configs``: each seed's own split, init
    and mini-batch of step t (``DigitsMLP.batch(step)``); metrics ``test_loss`` and
    ``test_acc`` per seed, as in :func:`muonlab.runner.tasks.digits_task`."""
    config = configs[0]
    problem = DigitsMLPBatch.from_seeds([c.seed for c in configs], **dict(config.settings), dtype=dtype, device=device)
    params = {name: nn.Parameter(t) for name, t in problem.init_params().items()}
    optimizer = optim.hybrid(list(params.items()), matrix=config.optimizer, matrix_hparams=dict(config.hparams), batch_ndim=1)

    def metrics() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"test_loss": problem.loss(params, problem.X_test, problem.y_test), "test_acc": problem.accuracy(params)}

    task = Task(
        optimizer,
        list(params.values()),
        lambda step: summed(problem.batch_loss(params, step)),
        metrics=metrics,
        finals=lambda: {f"final_{k}": v for k, v in metrics().items()},
    )
    return SeedBatch(task, lambda: [[] for _ in configs])
