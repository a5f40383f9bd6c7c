"""The local backend (SPEC 5): in the driver process, or a process pool that survives
a worker process dying (SPEC 7)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ..config import RunConfig
from ..run import RunResult, execute
from .base import (
    DEFAULT_RETRIES,
    RunTarget,
    call_with_threads,
    check_pool_options,
    lost_result,
)


class LocalBackend:
    """In the driver for ``workers=1``; otherwise a pool of ``workers`` processes (spawn
    context, so CUDA and torch's thread pools start clean).

    At most ``workers`` runs are in the pool at a time, so the runs a dying worker
    process may have been executing are known. A process death breaks the whole pool
    and every run in it; the pool is replaced by a fresh one and:

    - the runs the death took down are those whose futures raised
      ``BrokenProcessPool`` (a run that returned its result was not killed, whatever
      the timing);
    - if it took down one run, the death is that run's: it is charged one attempt and
      tried again, alone, or recorded as ``failed`` once charged more than ``retries``
      times (the rule of Dask's ``allowed-failures``);
    - if it took down several, nobody is charged and each of them is tried again
      alone, so that a further death is attributed exactly.

    Every run yields exactly one result.

    ``target`` is what each run calls (default :func:`~muonlab.runner.run.execute`);
    it must be importable by the worker processes.
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        threads_per_worker: int = 1,
        retries: int = DEFAULT_RETRIES,
        target: RunTarget = execute,
    ) -> None:
        check_pool_options(workers=workers, retries=retries)
        self.workers = workers
        self.threads_per_worker = threads_per_worker
        self.retries = retries
        self.target = target

    def run_all(self, configs: Sequence[RunConfig]) -> Iterator[RunResult]:
        if self.workers == 1:
            for config in configs:
                yield call_with_threads(self.target, config, self.threads_per_worker)
            return
        pending = deque(configs)
        suspects: Counter[str] = Counter()
        while pending:
            yield from self._pool_session(pending, suspects)

    def _pool_session(self, pending: deque[RunConfig], suspects: Counter[str]) -> Iterator[RunResult]:
        """Run from ``pending`` in one pool until it is empty or the pool breaks; the
        runs to try again go back to the front of ``pending``. ``suspects`` holds the
        runs to run alone, with the worker deaths charged to each."""
        retry: list[RunConfig] = []
        running: dict[Future[RunResult], RunConfig] = {}
        # The runs the broken pool took down (their futures raised BrokenProcessPool);
        # a run that returned a result was not killed, whatever the timing.
        lost: list[RunConfig] = []
        cause = ""
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
        ) as pool:
            _start_workers(pool, self.workers)
            while running or (pending and not cause):
                while not cause and self._may_start(pending, running, suspects):
                    config = pending.popleft()
                    try:
                        future = pool.submit(call_with_threads, self.target, config, self.threads_per_worker)
                    except BrokenProcessPool as exc:
                        pending.appendleft(config)  # never started
                        cause = str(exc)
                    else:
                        running[future] = config
                if not running:
                    break
                # Once the pool is broken every run still in it fails promptly: drain
                # them all before charging anyone, so that the charge does not depend
                # on which failures one ``wait`` happened to return.
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    config = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool as exc:
                        lost.append(config)
                        cause = str(exc)
                        continue
                    yield result
        for config in lost:
            # A key with count 0 still marks the run to be tried alone.
            suspects[config.run_id] += int(len(lost) == 1)
            if suspects[config.run_id] <= self.retries:
                retry.append(config)
                continue
            n = suspects[config.run_id]
            yield lost_result(config, f"its worker process died every time it ran alone ({n} attempts; {cause})")
        pending.extendleft(reversed(retry))

    def _may_start(self, pending: deque[RunConfig], running: dict[Future[RunResult], RunConfig], suspects: Counter[str]) -> bool:
        """Whether the next pending run may start now: a suspect runs alone (nothing else
        in the pool while it runs, and it waits for the pool to empty), the others up
        to ``workers`` at a time."""
        if not pending or len(running) >= self.workers:
            return False
        if any(config.run_id in suspects for config in running.values()):
            return False
        return not (pending[0].run_id in suspects and running)


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
