"""The adapter of a plugin problem (:mod:`muonlab.runner.problem_api`): one run per seed
(a plugin instance has no seed axis).

The runner joins the problem with the optimizer here (problems know nothing of
optimizers): every parameter to the optimizer, or the hybrid split when
:func:`~muonlab.runner.split.wants_hybrid` says so, with the instance's ``is_matrix``
rule when it has one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..problem_api import problem_plugin
from ..split import wants_hybrid
from ..task import StepLoss, Task, summed
from .base import Adapter, Seeds, network_optimizer


def build(seeds: Seeds, device: torch.device, dtype: torch.dtype) -> Task:
    """A plugin problem's task (see the module docstring)."""
    config = seeds.config
    plugin = problem_plugin(config.problem)
    instance = plugin.build(seeds.settings, seed=config.seed, device=device, dtype=dtype)
    named = list(instance.named_parameters())
    params = [p for _, p in named]
    optimizer = network_optimizer(seeds, named, hybrid=wants_hybrid(config), is_matrix=getattr(instance, "is_matrix", None))
    instance_metrics = getattr(instance, "metrics", dict)
    rel_dist = _rel_dist(params, instance.optimum()) if plugin.known_optimum else None

    def metrics() -> dict[str, Tensor]:
        values = dict(instance_metrics())
        if rel_dist is not None:
            values["rel_dist"] = rel_dist()
        return values

    def loss(step: int) -> StepLoss:
        return summed(instance.loss(step))

    return Task(optimizer, params, loss, metrics=metrics, finals=lambda: {f"final_{k}": v for k, v in metrics().items()},
                loss_fn=getattr(instance, "loss_fn", None))


def _rel_dist(params: list[Tensor], optimum: list[Tensor]) -> Callable[[], Tensor]:
    """``||theta - theta*||_F / ||theta*||_F`` over all parameters, as a 0-d tensor."""
    star = [t.detach() for t in optimum]
    star_norm = torch.sqrt(sum(t.square().sum() for t in star))

    def rel_dist() -> Tensor:
        gap = sum((p.detach() - t).square().sum() for p, t in zip(params, star))
        return torch.sqrt(gap) / star_norm

    return rel_dist


ADAPTER = Adapter(build, batches=False)
