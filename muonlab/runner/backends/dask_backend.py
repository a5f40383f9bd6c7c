"""The Dask backend (SPEC 5, 7): a ``distributed.LocalCluster`` on loopback, or an
existing cluster's scheduler (``--scheduler ADDRESS``, e.g. one started by dask-jobqueue
on SLURM/PBS; docs/scale-out.md).

Each cell (:mod:`muonlab.runner.cells`: a seed batch, or one run) is one task, keyed by
:attr:`~muonlab.runner.cells.Cell.key`, executed on a worker by
:func:`~muonlab.runner.backends.base.finish_cell`; finished cells stream back with
``distributed.as_completed`` in completion order, each with the worker's address. The
driver keeps one cell per worker thread on the cluster, so a worker holds only the cells
it executes. Worker deaths follow the backends' one
:class:`~muonlab.runner.backends.base.RetryPolicy`, applied by Dask itself: the
scheduler charges a death to the tasks the dead worker held and retries them elsewhere,
up to its ``distributed.scheduler.allowed-failures`` times (``retries`` for a cluster
started here); after that the cell's future raises ``KilledWorker`` and its runs are
recorded as ``failed`` with that message. The driver receives one result per key, so a
run is never recorded twice even if a dying worker had finished it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

import dask
from distributed import Client, KilledWorker, LocalCluster, as_completed, get_worker

from ..cells import Cell, FinishedCell
from ..run import execute
from ..settings import ConfigError
from .base import DEFAULT_RETRIES, RetryPolicy, RunTarget, check_workers, finish_cell

# Seconds to wait for an existing scheduler before reporting it unreachable.
CONNECT_TIMEOUT_S = 10.0


def local_cluster(*, workers: int, threads_per_worker: int = 1, retries: int = DEFAULT_RETRIES) -> LocalCluster:
    """``LocalCluster(host="127.0.0.1", dashboard_address=None, ...)`` of ``workers``
    processes as ``--backend dask`` starts it, with ``retries`` as the scheduler's
    ``allowed-failures``."""
    # The scheduler of a LocalCluster lives in this process and reads its config when
    # it starts.
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        return LocalCluster(
            host="127.0.0.1",
            dashboard_address=None,
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
        )


class DaskBackend:
    """Runs on Dask: ``LocalCluster(host="127.0.0.1", dashboard_address=None,
    threads_per_worker=threads_per_worker, n_workers=workers, processes=True)`` when
    ``scheduler`` is None, else the cluster whose scheduler listens at ``scheduler``.

    A sequential run sets ``torch.set_num_threads(threads_per_worker)``, a seed batch one
    thread (:func:`~muonlab.runner.backends.base.execute_cell`). ``connect_timeout``
    (default ``CONNECT_TIMEOUT_S``) bounds the wait for ``scheduler``. ``target`` is what
    each run of a sequential cell calls (default :func:`~muonlab.runner.run.execute`); it
    must be importable on the workers.
    """

    def __init__(
        self,
        *,
        workers: int = 1,
        scheduler: str | None = None,
        threads_per_worker: int = 1,
        retries: int = DEFAULT_RETRIES,
        connect_timeout: float | None = None,
        target: RunTarget = execute,
    ) -> None:
        check_workers(workers)
        self.workers = workers
        self.scheduler = scheduler
        self.threads_per_worker = threads_per_worker
        self.policy = RetryPolicy(retries)
        self.connect_timeout = connect_timeout
        self.target = target
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None

    def __enter__(self) -> DaskBackend:
        if self.scheduler is None:
            self._cluster = local_cluster(workers=self.workers, threads_per_worker=self.threads_per_worker, retries=self.policy.retries)
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(self.scheduler, timeout=CONNECT_TIMEOUT_S if self.connect_timeout is None else self.connect_timeout)
            except (OSError, ValueError) as exc:
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise ConfigError(f"--scheduler: cannot connect to {self.scheduler!r}: {reason}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def run_cells(self, cells: Sequence[Cell]) -> Iterator[FinishedCell]:
        client = self._client
        if client is None:
            raise RuntimeError("DaskBackend.run_cells needs the backend entered (`with backend:`)")
        queue = deque(cells)
        by_key = {cell.key: cell for cell in cells}
        in_flight = as_completed()

        def submit() -> None:
            # One cell per worker thread (counted anew as workers come and go): a worker
            # then holds only the cells it executes, so a worker death charges exactly
            # those (a scheduler sends all non-root tasks to workers at once).
            slots = self._threads(client)
            while queue and in_flight.count() < slots:
                cell = queue.popleft()
                in_flight.add(client.submit(finish_on_worker, cell, self.target, self.threads_per_worker, key=cell.key, pure=False))

        submit()
        try:
            for future in in_flight:
                cell = by_key[future.key]
                try:
                    finished = future.result()
                except KilledWorker as exc:
                    finished = self.policy.lost(cell, f"({str(exc).splitlines()[0]})")
                future.release()  # free the result on the cluster once it is here
                yield finished
                submit()
        finally:
            in_flight.clear()  # the driver stopped early: release what is still queued

    @staticmethod
    def _threads(client: Client) -> int:
        """Worker threads in the cluster now, waiting for a first worker if it has none."""
        threads = sum(client.nthreads().values())
        if threads == 0:
            client.wait_for_workers(1)
            threads = sum(client.nthreads().values())
        return threads


def finish_on_worker(cell: Cell, target: RunTarget, threads: int) -> FinishedCell:
    """:func:`~muonlab.runner.backends.base.finish_cell` as a Dask task: the placement
    names the worker that ran it."""
    return finish_cell(cell, target, threads, "dask", get_worker().address)
