"""One run: ``run(config) -> RunResult``, a pure function of its config (SPEC 5, 7, 8).

Per step: ``zero_grad``, loss, ``backward``, gradient hook (gradient-site injection),
``step``. The loss of every step and the logged rows (loss, the optimizer's
``last_stats_tensors()``, the task's metrics) stay on the device
(:class:`~muonlab.runner.steplog.StepLog`); the host reads them at flush points only,
where a NaN/inf loss or parameter stops the run as ``diverged``. The study's
``[diagnostics]`` run as a :class:`~muonlab.runner.observers.RunObserver` around the step;
their end-of-run artifacts (e.g. the spectral density) come back in ``artifacts``.
A seed-batched cell (SPEC 8) goes through the same sequence (:func:`run_seeds`) with a
seed axis on the task and the log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .config import RunConfig
from .device import DTYPES, resolve_device
from .host_memory import keep_freed_memory
from .adapters import build_cell_task
from .adapters.base import Seeds
from .observers import Artifacts, RunObserver
from .optimizer_protocol import ParamDeltaStats, reports_stats, set_mode, want_stats
from .schedules import Schedule, build_schedule
from .seed_observer import batch_observer
from .seeding import seeded
from .spikes import spike_statistics
from .steplog import StepLog
from .task import EventRecord, Task

# Steps between divergence checks (one host sync each); also the granularity at which
# a diverged run stops.
FLUSH_STEPS = 256

STATUSES = ("done", "diverged", "failed")
_FLOAT32_FIELDS = ("best_loss",)


@dataclass(frozen=True)
class RunResult:
    """What a run produced. ``columns`` are the rows of ``runs/<run_id>.csv`` (``step``,
    ``loss``, metrics..., ``event``); ``summary`` the run's fields of ``summary.csv``."""

    config: RunConfig
    status: str
    steps_done: int
    diverged_step: int | None = None
    error: str | None = None
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    events: tuple[EventRecord, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)
    # end-of-run tables of the diagnostics, name -> columns (runs/<run_id>.<name>.csv)
    artifacts: Artifacts = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.config.run_id

    @property
    def spectrum(self) -> dict[str, np.ndarray] | None:
        """The ``[diagnostics] spectrum`` density's columns, None when not recorded."""
        return self.artifacts.get("spectrum")


def failed_result(config: RunConfig, error: BaseException) -> RunResult:
    """The result of a run that raised for its own reason (the study goes on)."""
    message = f"{type(error).__name__}: {error}".splitlines()[0]
    return RunResult(config=config, status="failed", steps_done=0, error=message)


def execute(config: RunConfig) -> RunResult:
    """:func:`run`, with an exception turned into a ``failed`` result (what backends call)."""
    try:
        return run(config)
    except Exception as exc:  # a run's own failure must not stop the study (SPEC 7)
        return failed_result(config, exc)


def run(config: RunConfig) -> RunResult:
    """Train ``config.optimizer`` on ``config.problem`` for ``config.steps`` steps: the
    one-seed case of :func:`run_seeds`."""
    (result,) = run_seeds(Seeds.one(config))
    return result


def run_seeds(seeds: Seeds) -> list[RunResult]:
    """Train the runs of ``seeds`` (one run, or the seeds of a cell as one vectorized
    run, SPEC 8) and return one result per config, in order, each with its own
    ``run_id``: batching is an execution detail. Divergence is per seed: each seed's
    first NaN/inf step is found at the flush points and its rows are cut there, while
    the other seeds go on."""
    config = seeds.config
    device = resolve_device(config.device)
    keep_freed_memory()  # no page faults on every step's fresh tensors (glibc)
    # The problems draw from their own per-seed generators; the global RNGs are seeded
    # only to shield the caller.
    with seeded(config.seed):
        task = build_cell_task(seeds, device=device, dtype=DTYPES[config.dtype])
        log = StepLog(config.steps, config.every, device, batch=seeds.shape[0] if seeds.batched else None, extra=task.row_steps)
        observer = _observer(seeds, task, log, device)
        schedule = build_schedule(task.optimizer, dict(config.schedule), config.steps)
        train_steps(task, log, config.steps, observer, schedule)
    steps_run = [config.steps if d is None else d for d in log.diverged]
    finals: dict[str, np.ndarray] = {}
    artifacts: list[Artifacts] = [{} for _ in seeds.configs]
    if None in log.diverged:
        finals = {k: _host(v) for k, v in final_metrics(task).items()}
        if observer is not None:
            artifacts = observer.finish([d is None for d in log.diverged])
    losses, columns = log.to_host(max(steps_run))
    events = task.seed_events() if task.seed_events is not None else [[] for _ in seeds.configs]
    results = []
    for i, (own_config, diverged, n) in enumerate(zip(seeds.configs, log.diverged, steps_run)):
        rows = int(np.searchsorted(columns["step"], n, side="right"))
        own = {k: v[:rows] if k == "step" else _seed_view(v, i, seeds)[:rows] for k, v in columns.items()}
        own_finals = {k: float(_seed_view(v, i, seeds)) for k, v in finals.items()} if diverged is None else {}
        result = assemble_result(own_config, _seed_view(losses, i, seeds)[:n], own, events[i], task.event_steps, diverged, own_finals)
        results.append(replace(result, artifacts=artifacts[i]))
    return results


def _observer(seeds: Seeds, task: Task, log: StepLog, device: torch.device) -> RunObserver | None:
    """The observer of the study's ``[diagnostics]`` (None when it has none): a run's
    own, or each seed of a batch observed on its own slice."""
    config = seeds.config
    if not config.diagnostics.enabled:
        return None
    if seeds.batched:
        return batch_observer(seeds.configs, task, log.is_logged, device, DTYPES[config.dtype])
    return RunObserver.for_run(config.diagnostics, task, seed=config.seed, is_logged=log.is_logged)


def _host(value: Any) -> np.ndarray:
    """A final metric (a tensor or a number) as a host array."""
    return value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _seed_view(values: np.ndarray, index: int, seeds: Seeds) -> np.ndarray:
    """Seed ``index``'s part of a host buffer (the seed axis is last; a run has none). A
    value without the axis (a number shared by the seeds) is every seed's."""
    return values[..., index] if seeds.batched and values.ndim else values


def final_metrics(task: Task) -> dict[str, Any]:
    """The task's finals, at the x sequence for schedule-free methods."""
    set_mode(task.optimizer, "eval")
    with torch.no_grad():
        return task.finals()


def assemble_result(
    config: RunConfig,
    losses: np.ndarray,
    columns: dict[str, np.ndarray],
    events: Sequence[EventRecord],
    event_steps: Sequence[int],
    diverged_step: int | None,
    finals: dict[str, float],
) -> RunResult:
    """The :class:`RunResult` of one run from its host copies: ``losses`` of the steps run
    (up to the diverged step), its logged ``columns``, events and final metrics."""
    steps_run = config.steps if diverged_step is None else diverged_step
    if config.dtype == "float32":
        # Every logged value of a float32 run is a float32 number: keep it as one so the
        # CSV shows its own shortest text.
        columns = {k: v.astype(np.float32) if k != "step" else v for k, v in columns.items()}
    events = tuple(e for e in events if e.step <= steps_run)
    columns["event"] = _event_counts(columns["step"], [e.step for e in events])

    finite = losses if diverged_step is None else losses[: diverged_step - 1]
    summary: dict[str, Any] = {
        "final_loss": float(losses[-1]) if diverged_step is None else math.nan,
        "best_loss": float(finite.min()) if finite.size else math.nan,
    }
    summary.update(spike_statistics(finite, [s for s in event_steps if s <= finite.size], dict(config.spikes)))
    summary.update(finals)
    if config.dtype == "float32":
        # Losses and finals of a float32 run are float32 numbers (spike ratios are not).
        summary = {k: np.float32(v) if k in _FLOAT32_FIELDS or k.startswith("final_") else v for k, v in summary.items()}
    return RunResult(
        config=config,
        status="done" if diverged_step is None else "diverged",
        steps_done=steps_run if diverged_step is None else diverged_step - 1,
        diverged_step=diverged_step,
        columns=columns,
        events=events,
        summary=summary,
    )


def is_overflow(error: BaseException) -> bool:
    """Whether ``error`` is a number overflowing its type: Python's ``OverflowError``, or
    torch refusing a scalar too large for the tensor's dtype ("value cannot be
    converted to type float without overflow", e.g. ``alpha=lr**2`` at lr = 1e30)."""
    return isinstance(error, OverflowError) or (isinstance(error, RuntimeError) and "without overflow" in str(error))


def train_steps(
    task: Task, log: StepLog, steps: int, observer: RunObserver | None = None, schedule: Schedule | None = None
) -> None:
    """The training loop (``schedule``: the learning-rate schedule, stepped after each
    ``optimizer.step()``). Nothing here reads a device value except the divergence check
    at flush points, which records each seed's first NaN/inf step in ``log.diverged``
    and stops the loop once every seed has diverged. A number overflowing its type in
    the loss or a statistic (:func:`is_overflow`) is divergence too: every seed still
    running is recorded as diverged at that step (the overflow cannot be told apart by
    seed) and the loop stops."""
    optimizer = task.optimizer
    # An optimizer without its own statistics (an external one) is measured by the
    # parameter change at logged steps only.
    deltas = None if reports_stats(optimizer) else ParamDeltaStats(task.params)
    set_mode(optimizer, "train")
    for step in range(1, steps + 1):
        try:
            diverged = _train_step(task, log, step, steps, observer, deltas, schedule)
        except (OverflowError, RuntimeError) as exc:
            if not is_overflow(exc):
                raise
            log.record_overflow(step)
            log.check_divergence(step, task.params)
            return
        if diverged:
            return


def _train_step(
    task: Task,
    log: StepLog,
    step: int,
    steps: int,
    observer: RunObserver | None,
    deltas: ParamDeltaStats | None,
    schedule: Schedule | None,
) -> bool:
    """One step of :func:`train_steps`; True when every seed has diverged."""
    optimizer = task.optimizer
    optimizer.zero_grad(set_to_none=True)
    objective, loss = task.loss(step)
    objective.backward()
    if task.before_step is not None:
        task.before_step(step)
    if observer is not None:
        observer.before_step(step)
    logged = log.is_logged(step)
    if deltas is not None and logged:
        deltas.before_step()
    want_stats(optimizer, logged)
    optimizer.step()
    if schedule is not None:
        schedule.step()
    log.record_loss(step, loss)
    if task.after_step is not None:
        with torch.no_grad():
            task.after_step(step)
    if logged:
        with torch.no_grad():
            stats = optimizer.last_stats_tensors() if deltas is None else deltas.after_step()
            row = {**stats, **task.metrics()}
        if observer is not None:
            row.update(observer.after_step(step))
        log.record_row(step, row)
    return (step % FLUSH_STEPS == 0 or step == steps) and log.check_divergence(step, task.params)


def _event_counts(row_steps: np.ndarray, event_steps: list[int]) -> np.ndarray:
    """Events in ``(previous row's step, this row's step]`` for each logged row."""
    cumulative = np.searchsorted(np.asarray(sorted(event_steps), dtype=np.int64), row_steps, side="right")
    return np.diff(cumulative, prepend=0).astype(np.int64)
