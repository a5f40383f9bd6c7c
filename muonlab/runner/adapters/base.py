"""The seed axis every problem adapter is written over (SPEC 8; issue 12).

An adapter builds one :class:`~muonlab.runner.task.Task` from :class:`Seeds`: the
configs of one run (shape ``()``: unbatched problem objects, parameters and optimizer),
or the S configs of a seed-batched cell (shape ``(S,)``: the seeds' problem instances
stacked on a leading axis, ``(S, ...)`` parameters, the optimizer's batched mode, and
``torch.vmap`` over per-seed functions). The code is the same for both shapes; only
:meth:`Seeds.stack`, :meth:`Seeds.vmap` and :meth:`Seeds.parameters` know which it is,
so a run does exactly the float operations of an unbatched program (no batch of one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import stack_module_state

from muonlab import optim

from ..config import RunConfig
from ..split import wants_hybrid
from ..task import Task


@dataclass(frozen=True)
class Seeds:
    """The runs one adapter call builds: ``configs`` differ in ``seed`` only; ``batched``
    trains them as one run with a leading seed axis, else there is exactly one config."""

    configs: tuple[RunConfig, ...]
    batched: bool = False

    def __post_init__(self) -> None:
        if not self.batched and len(self.configs) != 1:
            raise ValueError(f"Seeds: an unbatched run has one config, got {len(self.configs)}")

    @classmethod
    def one(cls, config: RunConfig) -> Seeds:
        return cls((config,))

    @property
    def config(self) -> RunConfig:
        """The first config (all but the seed are the cell's)."""
        return self.configs[0]

    @property
    def settings(self) -> dict[str, Any]:
        """The problem settings (the same for every seed)."""
        return dict(self.config.settings)

    @property
    def seeds(self) -> list[int]:
        return [c.seed for c in self.configs]

    @property
    def shape(self) -> tuple[int, ...]:
        """The seed axis: ``(S,)`` in a batch, ``()`` for a run."""
        return (len(self.configs),) if self.batched else ()

    @property
    def batch_ndim(self) -> int:
        return len(self.shape)

    def stack(self, values: Sequence[Any]) -> Any:
        """Per-seed tensors (or arrays) stacked on the seed axis; a run's own value."""
        if not self.batched:
            (value,) = values
            return value
        return np.stack(values) if isinstance(values[0], np.ndarray) else torch.stack(values)

    def vmap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` over the seed axis (``torch.vmap``); a run calls ``fn`` itself."""
        return torch.vmap(fn) if self.batched else fn

    def slice(self, tensors: Sequence[Tensor], index: int) -> list[Tensor]:
        """Seed ``index``'s slice of every tensor (a run's tensors themselves)."""
        return [t[index] for t in tensors] if self.batched else list(tensors)

    def parameters(self, modules: Sequence[nn.Module]) -> list[tuple[str, nn.Parameter]]:
        """The trained parameters of one module per seed: a run's module's own, or the
        modules' parameters stacked ``(S, ...)`` (``torch.func.stack_module_state``)."""
        if not self.batched:
            (module,) = modules
            return list(module.named_parameters())
        stacked, _ = stack_module_state(list(modules))
        return [(name, nn.Parameter(t.detach().clone())) for name, t in stacked.items()]


@dataclass(frozen=True)
class Adapter:
    """One problem's entry in the registry: ``build(seeds, device, dtype)``, whether it
    builds seed-batched cells at all (``batches``), and why a cell of a given config
    cannot be batched beyond the optimizer (``batch_limit``: None when it can)."""

    build: Callable[[Seeds, torch.device, torch.dtype], Task]
    batches: bool = True
    batch_limit: Callable[[RunConfig], str | None] = lambda config: None


def network_optimizer(
    seeds: Seeds,
    named: list[tuple[str, Tensor]],
    *,
    hybrid: bool,
    other_hparams: dict[str, Any] | None = None,
    is_matrix: Callable[[str, Tensor], bool] | None = None,
) -> Any:
    """A network's optimizer: the hybrid split (SPEC 1; the matrix side in batched mode
    in a batch, :func:`muonlab.optim.hybrid` with ``batch_ndim``), or ``config.optimizer``
    over every parameter."""
    config = seeds.config
    hparams = dict(config.hparams)
    if not hybrid:
        return optim.build(config.optimizer, [p for _, p in named], **hparams)
    return optim.hybrid(named, matrix=config.optimizer, other="adamw", matrix_hparams=hparams,
                        other_hparams=other_hparams, is_matrix=is_matrix, batch_ndim=seeds.batch_ndim)


def split_limit(config: RunConfig) -> str | None:
    """A network cell batches through the hybrid split only."""
    if not wants_hybrid(config):
        return f"optimizer {config.optimizer!r} takes the whole network (hybrid = false): no seed-batched split"
    return None
