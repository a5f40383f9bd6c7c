"""Problem adapters (docs/architecture.md): one module per problem, each one
``build(seeds, device, dtype) -> Task`` written over the seed axis
(:class:`~muonlab.runner.adapters.base.Seeds`: ``()`` for a run, ``(S,)`` for a
seed-batched cell), and this one registry. A problem not in it is a plugin
(:mod:`muonlab.runner.adapters.external`).
"""

from __future__ import annotations

import torch

from ..config import RunConfig
from ..task import Task
from . import awbt, digits, external, gpt, helmholtz, river_valley
from .base import Adapter, Seeds

ADAPTERS: dict[str, Adapter] = {
    "awbt": awbt.ADAPTER,
    "river_valley": river_valley.ADAPTER,
    "digits": digits.ADAPTER,
    "helmholtz": helmholtz.ADAPTER,
    "gpt": gpt.ADAPTER,
}


def adapter(problem: str) -> Adapter:
    """The adapter of ``problem``: built-in by name, else the plugin adapter."""
    return ADAPTERS.get(problem, external.ADAPTER)


def build_cell_task(seeds: Seeds, *, device: torch.device, dtype: torch.dtype) -> Task:
    """The task of ``seeds``' problem (one run, or a cell as one batch) on ``device``."""
    return adapter(seeds.config.problem).build(seeds, device, dtype)


def build_task(config: RunConfig, *, device: torch.device, dtype: torch.dtype) -> Task:
    """The task of one run of ``config``."""
    return build_cell_task(Seeds.one(config), device=device, dtype=dtype)


__all__ = ["ADAPTERS", "Adapter", "Seeds", "adapter", "build_cell_task", "build_task"]
