"""The local backend (SPEC 5): cells in the driver process, or in a process pool that
survives a worker process dying (SPEC 7)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..cells import Cell, FinishedCell
from ..run import execute
from .base import DEFAULT_RETRIES, RetryPolicy, RunTarget, check_workers, finish_cell


class LocalBackend:
    """In the driver for ``workers=1``; otherwise a pool of ``workers`` processes (spawn
    context, so CUDA and torch's thread pools start clean).

    At most ``workers`` cells are in the pool at a time, so the cells a dying worker
    process may have been executing are known. A process death breaks the whole pool
    (``concurrent.futures`` has no retry and cannot say which process held which cell):
    the pool is replaced by a fresh one, the cells it took down are those whose futures
    raised ``BrokenProcessPool`` (a cell that returned its results was not killed,
    whatever the timing), and :meth:`RetryPolicy.after_death` decides which are tried
    again, alone, and which are recorded as ``failed``. Every run yields exactly one
    result.

    ``target`` is what each run of a sequential cell calls (default
    :func:`~muonlab.runner.run.execute`); it must be importable by the worker processes.
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        threads_per_worker: int = 1,
        retries: int = DEFAULT_RETRIES,
        target: RunTarget = execute,
    ) -> None:
        check_workers(workers)
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.policy = RetryPolicy(retries)
        self.target = target

    def run_cells(self, cells: Sequence[Cell]) -> Iterator[FinishedCell]:
        if self.workers == 1:
            for cell in cells:
                yield finish_cell(cell, self.target, self.threads_per_worker, "in-process")
            return
        pending = deque(cells)
        charges: Counter[str] = Counter()
        while pending:
            yield from self._pool_session(pending, charges)

    def _pool_session(self, pending: deque[Cell], charges: Counter[str]) -> Iterator[FinishedCell]:
        """Run from ``pending`` in one pool until it is empty or the pool breaks; the
        cells to try again go back to the front of ``pending``. ``charges`` holds the
        cells to run alone, with the worker deaths charged to each."""
        running: dict[Future[FinishedCell], Cell] = {}
        # The cells the broken pool took down (their futures raised BrokenProcessPool);
        # a cell that returned its results was not killed, whatever the timing.
        lost: list[Cell] = []
        cause = ""
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
        ) as pool:
            _start_workers(pool, self.workers)
            while running or (pending and not cause):
                while not cause and self._may_start(pending, running, charges):
                    cell = pending.popleft()
                    try:
                        future = pool.submit(finish_cell, cell, self.target, self.threads_per_worker, "process-pool")
                    except BrokenProcessPool as exc:
                        pending.appendleft(cell)  # never started
                        cause = str(exc)
                    else:
                        running[future] = cell
                if not running:
                    break
                # Once the pool is broken every cell still in it fails promptly: drain
                # them all before charging anyone, so that the charge does not depend
                # on which failures one ``wait`` happened to return.
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    cell = running.pop(future)
                    try:
                        finished = future.result()
                    except BrokenProcessPool as exc:
                        lost.append(cell)
                        cause = str(exc)
                        continue
                    yield finished
        retry, give_up = self.policy.after_death(lost, charges)
        for cell in give_up:
            yield self.policy.lost(cell, f"alone ({charges[cell.key]} attempts; {cause})")
        pending.extendleft(reversed(retry))

    def _may_start(self, pending: deque[Cell], running: dict[Future[FinishedCell], Cell], charges: Counter[str]) -> bool:
        """Whether the next pending cell may start now: a suspect (a key of ``charges``)
        runs alone (nothing else in the pool while it runs, and it waits for the pool
        to empty), the others up to ``workers`` at a time."""
        if not pending or len(running) >= self.workers:
            return False
        if any(cell.key in charges for cell in running.values()):
            return False
        return not (pending[0].key in charges and running)


def _start_workers(pool: ProcessPoolExecutor, workers: int) -> None:
    """Start all ``workers`` processes of ``pool`` before any run is submitted.

    CPython (3.9+) spawns pool workers on demand, one per ``submit``, and ``submit``
    wakes the pool's manager thread *before* spawning: the manager may then go on
    watching only the older workers' sentinels, so that a new worker that dies at once
    is noticed only when another run returns (and then looks like a death of a run
    that was alone in the pool). Rounds of trivial calls, all in flight together, keep
    every existing worker busy so that each round spawns the missing ones; once every
    worker has answered, the manager has woken up with all of them registered.
    """
    seen: set[int] = set()
    while len(seen) < workers:
        seen.update(f.result() for f in [pool.submit(os.getpid) for _ in range(workers)])


def _exit_with_parent() -> None:
    """Pool worker initializer: end this worker when the driver dies (a ``kill -9`` of
    the driver would otherwise leave it waiting on the task queue forever)."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_when_ready, args=(parent.sentinel,), daemon=True).start()


def _exit_when_ready(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)
