"""The ``[diagnostics]`` of a seed-batched cell (SPEC 4, 8): one
:class:`~muonlab.runner.observers.RunObserver` over the batch, each seed observed on
its own slice.

A Hessian diagnostic needs each seed's own functional loss: the batch's objective is
the sum of the per-seed losses, whose Hessian is block-diagonal, so a Lanczos on it
would mix the seeds' spectra. Seed i's loss is the ``loss_fn`` of the task its run of
its own would train (built under its seed, on the same device and dtype; only the loss
is used), evaluated at slice i: the same function the sequential run differentiates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from muonlab.diagnostics.hvp import LossFn

from .config import RunConfig
from .adapters import build_task
from .observers import RunObserver
from .seeding import seeded
from .task import Task


def seed_loss_fn(config: RunConfig, batch: Task, device: torch.device, dtype: torch.dtype) -> LossFn | None:
    """The functional loss of ``config``'s own run, checked to take one slice of the
    batch's ``(S, ...)`` parameters."""
    with seeded(config.seed):
        own = build_task(config, device=device, dtype=dtype)
    shapes = [tuple(p.shape) for p in own.params]
    sliced = [tuple(p.shape[1:]) for p in batch.params]
    if shapes != sliced:
        raise ValueError(f"diagnostics: the seed batch's parameters {sliced} are not the seed's own {shapes}")
    return own.loss_fn


def batch_observer(
    configs: Sequence[RunConfig], batch: Task, is_logged: Callable[[int], bool], device: torch.device, dtype: torch.dtype
) -> RunObserver | None:
    """The observer of the cell's ``[diagnostics]`` (None when it has none)."""
    spec = configs[0].diagnostics
    if not spec.enabled:
        return None
    needs_loss = any(plugin.needs_loss_fn for plugin, _ in spec.plugins())
    loss_fns = [seed_loss_fn(c, batch, device, dtype) if needs_loss else None for c in configs]
    return RunObserver.for_batch(spec, batch, [c.seed for c in configs], loss_fns, is_logged=is_logged)
