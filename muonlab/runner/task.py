"""What a problem adapter hands the run loop: :class:`Task`, its :class:`EventRecord`
rows and ``StepLoss``.

Kept apart from the adapters (:mod:`muonlab.runner.adapters`) so that the run loop,
the observers and the adapters import these types without an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
    """What the run loop drives, for one run or for the S seeds of a cell trained as one
    vectorized run (:class:`~muonlab.runner.adapters.base.Seeds`): then ``params`` carry
    the seed axis first, ``loss`` returns ``(sum of the per-seed losses, (S,) losses)``
    and ``metrics`` / ``finals`` give ``(S,)`` values where a run gives 0-d ones.

    ``loss_fn(params: list[Tensor]) -> Tensor`` is a fixed (step-independent) functional
    loss over tensors shaped like ``params``, for Hessian diagnostics.
    """

    optimizer: Any
    params: list[Tensor]
    loss: Callable[[int], StepLoss]
    before_step: Callable[[int], None] | None = None
    metrics: Callable[[], dict[str, Tensor]] = dict
    # Tensors (0-d, or (S,) in a batch) or numbers (the same for every seed).
    finals: Callable[[], dict[str, Any]] = dict
    event_steps: tuple[int, ...] = ()
    # Each seed's events (one list per seed); None: no events.
    seed_events: Callable[[], list[list[EventRecord]]] | None = None
    loss_fn: LossFn | None = None
    # Called after ``optimizer.step()`` (under no_grad), before the step's row is logged.
    after_step: Callable[[int], None] | None = None
    # Steps that get a CSV row besides every ``every``-th (e.g. the PINN's eval and ROI steps).
    row_steps: tuple[int, ...] = ()

    def events(self) -> list[EventRecord]:
        """The events of a one-seed task."""
        if self.seed_events is None:
            return []
        (events,) = self.seed_events()
        return events


def summed(losses: Tensor) -> StepLoss:
    """The objective and the loss to log: a run's 0-d loss twice, or the sum of a batch's
    ``(S,)`` per-seed losses (whose gradient in slice i is seed i's) and the losses."""
    return (losses if losses.ndim == 0 else losses.sum()), losses
