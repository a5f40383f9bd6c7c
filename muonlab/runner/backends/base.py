"""What every backend shares (SPEC 5, 7): the protocol, the per-cell call made on a
worker, and the one rule for a worker process that dies (:class:`RetryPolicy`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import torch

from ..batched import execute_batch
from ..cells import Cell, FinishedCell, Placement
from ..config import RunConfig
from ..run import RunResult, failed_result

# Worker deaths a cell may be charged before it is recorded as failed (it gets
# DEFAULT_RETRIES + 1 attempts in all).
DEFAULT_RETRIES = 2

RunTarget = Callable[[RunConfig], RunResult]
A = TypeVar("A")
R = TypeVar("R")


class Backend(Protocol):
    """Executes cells (:mod:`muonlab.runner.cells`) and yields each one as it finishes,
    in completion order; the study writer puts the results back in study order.

    A backend that holds resources (a cluster, a scheduler connection) is also a
    context manager: entering it acquires them, or raises
    :class:`~muonlab.runner.settings.ConfigError` when that is impossible, and
    :func:`~muonlab.runner.study.run_study` enters it before writing anything.
    """

    def run_cells(self, cells: Sequence[Cell]) -> Iterator[FinishedCell]: ...


class WorkerLost(RuntimeError):
    """The worker process executing a cell died every time the cell was tried."""


@dataclass(frozen=True)
class RetryPolicy:
    """The one rule for worker deaths (SPEC 7), whatever the backend.

    A worker process that dies is charged to the cell it was executing; a cell charged
    more than ``retries`` times is recorded as ``failed`` (:class:`WorkerLost`, one
    result per run, once), any other cell it took down is tried again. A cell's runs are
    therefore recorded exactly once, and a death is never charged to a cell that was
    running in another process.

    Dask applies the rule itself: the scheduler counts the deaths of the worker holding
    a task (``distributed.scheduler.allowed-failures``, set to ``retries`` on a cluster
    started here) and raises ``KilledWorker`` when they exceed it; :meth:`lost` turns
    that into the failed cell. A ``concurrent.futures`` process pool cannot: one worker
    death breaks the whole pool (``BrokenProcessPool`` for every cell in it, whichever
    process held it) and nothing is retried, so the local pool applies
    :meth:`after_death` to the cells a broken pool took down.
    """

    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")

    def after_death(self, lost: Sequence[Cell], charges: Counter[str]) -> tuple[list[Cell], list[Cell]]:
        """``(retry, give_up)`` for the cells one broken pool took down, updating
        ``charges`` (cell key -> deaths charged). Only a death that took down one cell
        is known to be that cell's and is charged; after one that took down several,
        nobody is charged. Every key in ``charges`` (even at 0) marks a cell to run
        alone, so that its next death is attributed exactly."""
        retry, give_up = [], []
        for cell in lost:
            charges[cell.key] += int(len(lost) == 1)
            (retry if charges[cell.key] <= self.retries else give_up).append(cell)
        return retry, give_up

    def lost(self, cell: Cell, detail: str) -> FinishedCell:
        """The finished cell of a cell given up: every run ``failed`` with
        ``WorkerLost: its worker process died every time it ran <detail>``."""
        error = WorkerLost(f"its worker process died every time it ran {detail}")
        return FinishedCell(cell, tuple(failed_result(config, error) for config in cell.configs), None)


def check_workers(workers: int) -> None:
    """ValueError naming the option when ``workers < 1``."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")


def call_with_threads(target: Callable[[A], R], config: A, threads: int) -> R:
    """``target(config)`` with ``threads`` torch threads, the previous count restored.

    Every backend runs a cell through this, in the driver or on a worker, so a run
    computes with the same number of threads whatever the backend and worker count
    (CPU reductions may depend on it; SPEC 7 determinism).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return target(config)
    finally:
        torch.set_num_threads(previous)


def execute_cell(cell: Cell, target: RunTarget, threads: int) -> list[RunResult]:
    """The results of ``cell``, one per config: :func:`~muonlab.runner.batched.execute_batch`
    on one torch thread for a batched cell (it is one vectorized program already; the
    same arithmetic wherever it runs, and no oversubscription on a busy machine),
    ``target(config)`` on ``threads`` threads for each run of a sequential one."""
    if cell.mode == "batched":
        return call_with_threads(execute_batch, cell.configs, 1)
    return [call_with_threads(target, config, threads) for config in cell.configs]


def finish_cell(cell: Cell, target: RunTarget, threads: int, backend: str, worker: str | None = None) -> FinishedCell:
    """:func:`execute_cell` in this process, with its :class:`Placement` (what a worker
    sends back)."""
    return FinishedCell(cell, tuple(execute_cell(cell, target, threads)), Placement.here(backend, worker))

