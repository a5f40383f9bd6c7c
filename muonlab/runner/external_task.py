"""The task adapter of a plugin problem (:mod:`muonlab.runner.problem_api`), and the one
dispatch from a run config to its task: built-in adapters by name, else this one.

The runner joins the problem with the optimizer here (problems know nothing of
optimizers): every parameter to the optimizer, or the hybrid split when
:func:`~muonlab.runner.split.wants_hybrid` says so, with the instance's ``is_matrix``
rule when it has one.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from muonlab import optim

from .config import RunConfig
from .problem_api import problem_plugin
from .split import wants_hybrid
from .task import Task
from .tasks import TASK_BUILDERS


def build_task(config: RunConfig, *, device: torch.device, dtype: torch.dtype) -> Task:
    """The task of ``config``'s problem (built-in or plugin) on ``device`` in ``dtype``."""
    builder = TASK_BUILDERS.get(config.problem, external_task)
    return builder(config, device, dtype)


def external_task(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Task:
    """A plugin problem's task (see the module docstring)."""
    plugin = problem_plugin(config.problem)
    instance = plugin.build(dict(config.settings), seed=config.seed, device=device, dtype=dtype)
    named = list(instance.named_parameters())
    params = [p for _, p in named]
    optimizer = _optimizer(config, instance, named)
    instance_metrics = getattr(instance, "metrics", dict)
    rel_dist = _rel_dist(params, instance.optimum()) if plugin.known_optimum else None

    def metrics() -> dict[str, Tensor]:
        values = dict(instance_metrics())
        if rel_dist is not None:
            values["rel_dist"] = rel_dist()
        return values

    def finals() -> dict[str, float]:
        return {f"final_{k}": float(v) for k, v in metrics().items()}

    def loss(step: int) -> tuple[Tensor, Tensor]:
        value = instance.loss(step)
        return value, value

    return Task(optimizer, params, loss, metrics=metrics, finals=finals, loss_fn=getattr(instance, "loss_fn", None))


def _optimizer(config: RunConfig, instance: Any, named: list[tuple[str, Tensor]]) -> Any:
    hparams = dict(config.hparams)
    if wants_hybrid(config):
        return optim.hybrid(named, matrix=config.optimizer, matrix_hparams=hparams, is_matrix=getattr(instance, "is_matrix", None))
    return optim.build(config.optimizer, [p for _, p in named], **hparams)


def _rel_dist(params: list[Tensor], optimum: list[Tensor]) -> Any:
    """``||theta - theta*||_F / ||theta*||_F`` over all parameters, as a 0-d tensor."""
    star = [t.detach() for t in optimum]
    star_norm = torch.sqrt(sum(t.square().sum() for t in star))

    def rel_dist() -> Tensor:
        gap = sum((p.detach() - t).square().sum() for p, t in zip(params, star))
        return torch.sqrt(gap) / star_norm

    return rel_dist
