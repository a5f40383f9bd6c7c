"""What a problem adapter hands the run loop: :class:`Task` (one seed),
:class:`SeedBatch` (S seeds), their :class:`EventRecord` rows and ``StepLoss``.

Kept apart from the adapters (:mod:`muonlab.runner.tasks`, :mod:`muonlab.runner.batched`
and the modules they register) so that those import these types, and the registries
import the adapters, without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from muonlab.diagnostics.hvp import LossFn


@dataclass(frozen=True)
class EventRecord:
    """One row of ``events.csv`` (without the run id)."""

    step: int
    kind: str
    detail: str


StepLoss = tuple[Tensor, Tensor]  # (objective to differentiate, loss to log)


@dataclass
class Task:
    """What the run loop drives (see the module docstring).

    ``loss_fn(params: list[Tensor]) -> Tensor`` is a fixed (step-independent) functional
    loss over tensors shaped like ``params``, for Hessian diagnostics.
    """

    optimizer: Any
    params: list[Tensor]
    loss: Callable[[int], StepLoss]
    before_step: Callable[[int], None] | None = None
    metrics: Callable[[], dict[str, Tensor]] = dict
    finals: Callable[[], dict[str, float]] = dict
    event_steps: tuple[int, ...] = ()
    events: Callable[[], list[EventRecord]] = list
    notes: list[str] = field(default_factory=list)
    loss_fn: LossFn | None = None
    # Called after ``optimizer.step()`` (under no_grad), before the step's row is logged.
    after_step: Callable[[int], None] | None = None
    # Steps that get a CSV row besides every ``every``-th (e.g. the PINN's eval and ROI steps).
    row_steps: tuple[int, ...] = ()


@dataclass
class SeedBatch:
    """A task over S seeds: ``task.params`` carry the seed axis first, ``task.loss``
    returns ``(sum of the per-seed losses, (S,) losses)``, ``task.metrics`` and
    ``task.finals`` give ``(S,)`` tensors; ``seed_events()`` lists each seed's events."""

    task: Task
    seed_events: Callable[[], list[list[EventRecord]]]


def summed(losses: Tensor) -> StepLoss:
    """The objective (sum of the per-seed losses) and the ``(S,)`` losses to log."""
    return losses.sum(), losses
