"""The single-matrix problems' common part (AWB-T, river valley): one parameter W,
``(m, n)`` for a run or ``(S, m, n)`` for a cell (the Muon family's ``batched=True``
mode, SPEC 1), and the optional outlier injection (SPEC 2.2) with each seed's own events.

Seeding (common random numbers): the run seed is the problem instance seed (which also
draws the init) and the injection seed, identically for every optimizer of a study.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from muonlab import optim
from muonlab.diagnostics.hvp import LossFn
from muonlab.toyproblems import InjectionEvent, OutlierInjection, OutlierInjectionBatch

from ..closed_loop import with_column_scales
from ..task import EventRecord, StepLoss, Task
from .base import Seeds


def injection_of(seeds: Seeds) -> OutlierInjection | OutlierInjectionBatch | None:
    """The study's ``[injection]`` seeded by the run seed (one slice per seed in a batch)."""
    if seeds.config.injection is None:
        return None
    settings = dict(seeds.config.injection)
    if seeds.batched:
        return OutlierInjectionBatch(seeds.seeds, **settings)
    return OutlierInjection(**settings, seed=seeds.config.seed)


def wire_injection(
    injection: OutlierInjection | OutlierInjectionBatch, site: str, W: nn.Parameter, basis: Tensor | None, hparams: dict[str, Any]
) -> Callable[[int], None] | None:
    """Route an injection (single or seed-batched) to ``W``: through the optimizer's
    momentum hook (site ``momentum``, eq. T-45; set in ``hparams``), or as a gradient hook
    to call before ``step()`` (returned)."""
    injection.check_columns(W.shape[-1])
    if site == "momentum":
        hparams["momentum_hook"] = injection.momentum_hook(basis, target=W)
        return None

    def before_step(step: int) -> None:
        injection.apply(W.grad, step, V=basis)

    return before_step


def injection_record(event: InjectionEvent) -> EventRecord:
    """The ``events.csv`` row of one injection event."""
    return EventRecord(event.step, "injection", "columns " + " ".join(str(j) for j in event.columns))


def matrix_task(
    seeds: Seeds,
    W: nn.Parameter,
    loss: Callable[[int], StepLoss],
    *,
    basis: Tensor | None,
    metrics: Callable[[], dict[str, Tensor]],
    loss_fn: LossFn,
) -> Task:
    """The task of one matrix ``W`` with the optional injection in feature basis ``basis``
    (None = W's own columns): through the optimizer's momentum hook (site ``momentum``,
    eq. T-45) or on the gradient before ``step()``. Finals are the metrics, prefixed
    ``final_``; the column-scale trace (SPEC 11) joins the rows."""
    config = seeds.config
    hparams: dict[str, Any] = {**dict(config.hparams), **({"batched": True} if seeds.batched else {})}
    injection = injection_of(seeds)
    before_step = None
    if injection is not None:
        before_step = wire_injection(injection, dict(config.injection)["site"], W, basis, hparams)
    optimizer = optim.build(config.optimizer, [W], **hparams)
    task = Task(
        optimizer,
        [W],
        loss,
        before_step=before_step,
        metrics=with_column_scales(metrics, optimizer, W, injection, config.steps),
        finals=lambda: {f"final_{k}": v for k, v in metrics().items()},
        loss_fn=loss_fn,
    )
    if injection is not None:
        singles = getattr(injection, "injections", (injection,))
        task.event_steps = tuple(injection.event_steps(config.steps))
        task.seed_events = lambda: [[injection_record(e) for e in single.events] for single in singles]
    return task
