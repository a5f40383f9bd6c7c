"""Seed batching (SPEC 8, study key ``batch_seeds``): the S seeds of one cell (same
problem settings, same optimizer and hyperparameters) trained as one vectorized run.

A matrix problem (AWB-T, river valley) becomes one ``(S, m, n)`` parameter driven by the
Muon family's ``batched=True`` mode (SPEC 1): slice i is seed i's problem instance
(:class:`~muonlab.toyproblems.AWBTBatch`, :class:`~muonlab.toyproblems.RiverValleyBatch`),
its own injection events (:class:`~muonlab.toyproblems.OutlierInjectionBatch`) and its
own optimizer statistics. The objective is the sum of the per-seed losses, whose
gradient in slice i is seed i's gradient. The batch is then split into one
:class:`~muonlab.runner.run.RunResult` per seed, with the run's own ``run_id``: batching
is an execution detail. The results equal those of the sequential runs within float32
tolerance (batched matmuls may round differently in the last digits, so CSV bytes of a
batched and a sequential run can differ there; the same study twice gives identical
bytes either way).

Divergence is per seed: each seed's first NaN/inf step is found at the flush points
(:meth:`~muonlab.runner.steplog.StepLog.check_divergence`) and its rows are cut there,
while the other seeds go on. A diverged slice is not masked: every batched operation
(matmuls, norms, medians, statistics) reduces within a slice, so its NaNs cannot reach
the other seeds (tested); the batch stops early only once every seed has diverged.

The digits MLP and the Helmholtz PINN run as vmapped seed ensembles
(:mod:`muonlab.runner.ensemble`). Cells whose optimizer has no batched mode (sgd, adamw,
sf-adamw, da/sc/df-muon), whose settings rule out an ensemble
(:func:`~muonlab.runner.ensemble.ensemble_limit`), or with ``[diagnostics]`` observers run
one run per seed, and the plan says why
(:func:`~muonlab.runner.cells.plan_cells`, written to ``manifest.json`` and printed by
the CLI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from muonlab import optim
from muonlab.toyproblems import AWBTBatch, OutlierInjectionBatch, RiverValleyBatch

from .config import RunConfig
from .device import DTYPES, resolve_device
from .closed_loop import with_column_scales
from .ensemble import digits_batch, ensemble_limit, helmholtz_batch
from .gpt_ensemble import gpt_batch
from .run import RunResult, assemble_result, failed_result, final_metrics, train_steps
from .schedules import build_schedule
from .seeding import seeded
from .steplog import StepLog
from .task import SeedBatch, StepLoss, Task, summed
from .tasks import injection_record, wire_injection


def _matrix_batch(
    configs: Sequence[RunConfig],
    W: nn.Parameter,
    loss: Callable[[int], StepLoss],
    *,
    basis: Tensor | None,
    metrics: Callable[[], dict[str, Tensor]],
) -> SeedBatch:
    """The seed-batched twin of :func:`muonlab.runner.tasks._matrix_task`: one
    ``(S, m, n)`` parameter, ``batched=True``, per-slice injection. Finals are the
    metrics, prefixed ``final_``, as in the single tasks."""
    config = configs[0]
    hparams: dict[str, Any] = {**dict(config.hparams), "batched": True}
    injection = None
    before_step = None
    if config.injection is not None:
        settings = dict(config.injection)
        injection = OutlierInjectionBatch([c.seed for c in configs], **settings)
        before_step = wire_injection(injection, settings["site"], W, basis, hparams)
    optimizer = optim.build(config.optimizer, [W], **hparams)
    task = Task(
        optimizer,
        [W],
        loss,
        before_step=before_step,
        metrics=with_column_scales(metrics, optimizer, W, injection, config.steps),
        finals=lambda: {f"final_{k}": v for k, v in metrics().items()},
        event_steps=() if injection is None else tuple(injection.event_steps(config.steps)),
    )
    if injection is None:
        return SeedBatch(task, lambda: [[] for _ in configs])
    return SeedBatch(task, lambda: [[injection_record(e) for e in inj.events] for inj in injection.injections])


def awbt_batch(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> SeedBatch:
    """AWB-T (SPEC 2.1) for every seed of ``configs``; metric ``rel_dist`` per seed,
    injection basis the columns of each seed's V (None when ``fix_V``), as in
    :func:`muonlab.runner.tasks.awbt_task`."""
    s = dict(configs[0].settings)
    problem = AWBTBatch.from_seeds(
        [c.seed for c in configs], d=s["d"], kappa=s["kappa"], fix_V=s["fix_V"], scale=s["scale"], dtype=dtype, device=device
    )
    W = nn.Parameter(problem.W0.clone())
    star_norm = torch.linalg.matrix_norm(problem.W_star)

    def metrics() -> dict[str, Tensor]:
        return {"rel_dist": torch.linalg.matrix_norm(W.detach() - problem.W_star) / star_norm}

    return _matrix_batch(
        configs,
        W,
        lambda step: summed(problem.loss(W)),
        basis=None if s["fix_V"] else problem.V,
        metrics=metrics,
    )


def river_valley_batch(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> SeedBatch:
    """River valley (SPEC 2.3) for every seed of ``configs``: each seed's own landscape
    and gradient noise, as in :func:`muonlab.runner.tasks.river_valley_task`."""
    problem = RiverValleyBatch.from_seeds([c.seed for c in configs], **dict(configs[0].settings), dtype=dtype, device=device)
    W = nn.Parameter(problem.W0.clone())

    def loss(step: int) -> StepLoss:
        exact = problem.loss(W)
        if problem.noise == "none":
            return exact.sum(), exact
        return (exact + (problem.gradient_noise(step) * W).sum(dim=(-2, -1))).sum(), exact

    def metrics() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"river_progress": problem.river_progress(W), "wall_energy": problem.wall_energy(W)}

    return _matrix_batch(configs, W, loss, basis=None, metrics=metrics)


BATCH_BUILDERS: dict[str, Callable[[Sequence[RunConfig], torch.device, torch.dtype], SeedBatch]] = {
    "awbt": awbt_batch,
    "river_valley": river_valley_batch,
    "digits": digits_batch,
    "helmholtz": helmholtz_batch,
    "gpt": gpt_batch,
}


def batch_support(config: RunConfig) -> str | None:
    """Why the cell of ``config`` cannot be seed-batched, or None when it can."""
    if config.problem not in BATCH_BUILDERS:
        return f"problem {config.problem!r} has no seed-batched path"
    if "batched" not in optim.hyperparameters(config.optimizer):
        return f"optimizer {config.optimizer!r} has no batched mode"
    if config.diagnostics.enabled:
        return "[diagnostics] observers follow one run each"
    return ensemble_limit(config)


def run_batch(configs: Sequence[RunConfig]) -> list[RunResult]:
    """Train the seeds of one cell (``configs`` differ in ``seed`` only) as one batch and
    return one result per config, in order (see the module docstring)."""
    first = configs[0]
    device = resolve_device(first.device)
    # The batched problems draw from their own per-seed generators; the global RNGs are
    # seeded only to shield the caller, as in run().
    with seeded(first.seed):
        batch = BATCH_BUILDERS[first.problem](configs, device, DTYPES[first.dtype])
        log = StepLog(first.steps, first.every, device, batch=len(configs), extra=batch.task.row_steps)
        train_steps(batch.task, log, first.steps, schedule=build_schedule(batch.task.optimizer, dict(first.schedule), first.steps))
    steps_run = [first.steps if d is None else d for d in log.diverged]
    finals: dict[str, np.ndarray] = {}
    if None in log.diverged:
        finals = {k: v.cpu().numpy() for k, v in final_metrics(batch.task).items()}
    losses, columns = log.to_host(max(steps_run))
    events = batch.seed_events()
    results = []
    for i, (config, diverged, n) in enumerate(zip(configs, log.diverged, steps_run)):
        rows = int(np.searchsorted(columns["step"], n, side="right"))
        own = {k: v[:rows] if k == "step" else v[:rows, i] for k, v in columns.items()}
        own_finals = {k: float(v[i]) for k, v in finals.items()} if diverged is None else {}
        results.append(assemble_result(config, losses[:n, i], own, events[i], batch.task.event_steps, diverged, own_finals))
    return results


def execute_batch(configs: Sequence[RunConfig]) -> list[RunResult]:
    """:func:`run_batch`, with an exception turned into a ``failed`` result per seed."""
    try:
        return run_batch(configs)
    except Exception as exc:  # the cell's failure must not stop the study (SPEC 7)
        return [failed_result(config, exc) for config in configs]
