"""The Dask backend (SPEC 5, 7): a ``distributed.LocalCluster`` on loopback, or an
existing cluster's scheduler (``--scheduler ADDRESS``, e.g. one started by dask-jobqueue
on SLURM/PBS; docs/scale-out.md).

Each run is one task, keyed by its ``run_id``; results stream back with
``distributed.as_completed`` in completion order. The driver keeps one run per worker
thread on the cluster, so a worker holds only the run it executes. A worker that dies
makes the scheduler retry that run elsewhere, up to the scheduler's
``distributed.scheduler.allowed-failures`` times (``retries`` for a cluster started
here); after that the run's future raises ``KilledWorker`` and the run is recorded as
``failed`` with that message. The driver receives one result per key, so a run is never
recorded twice even if a dying worker had finished it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence

import dask
from distributed import Client, KilledWorker, LocalCluster, as_completed

from ..config import RunConfig
from ..run import RunResult, execute
from ..settings import ConfigError
from .base import (
    DEFAULT_RETRIES,
    RunTarget,
    call_with_threads,
    check_pool_options,
    lost_result,
)

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

    Each task sets ``torch.set_num_threads(threads_per_worker)``. ``connect_timeout``
    (default ``CONNECT_TIMEOUT_S``) bounds the wait for ``scheduler``. ``target`` is what
    each run calls (default :func:`~muonlab.runner.run.execute`); it must be importable
    on the workers.
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
        check_pool_options(workers=workers, retries=retries)
        self.workers = workers
        self.scheduler = scheduler
        self.threads_per_worker = threads_per_worker
        self.retries = retries
        self.connect_timeout = connect_timeout
        self.target = target
        self._cluster: LocalCluster | None = None
        self._client: Client | None = None

    def __enter__(self) -> DaskBackend:
        if self.scheduler is None:
            self._cluster = local_cluster(workers=self.workers, threads_per_worker=self.threads_per_worker, retries=self.retries)
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

    def run_all(self, configs: Sequence[RunConfig]) -> Iterator[RunResult]:
        client = self._client
        if client is None:
            raise RuntimeError("DaskBackend.run_all needs the backend entered (`with backend:`)")
        queue = deque(configs)
        by_id = {config.run_id: config for config in configs}
        in_flight = as_completed()

        def submit() -> None:
            # One run per worker thread (counted anew as workers come and go): a worker
            # then holds only the run it executes, so a worker death charges exactly
            # that run (a scheduler sends all non-root tasks to workers at once).
            slots = self._threads(client)
            while queue and in_flight.count() < slots:
                config = queue.popleft()
                in_flight.add(
                    client.submit(
                        call_with_threads,
                        self.target,
                        config,
                        self.threads_per_worker,
                        key=config.run_id,
                        pure=False,
                    )
                )

        submit()
        try:
            for future in in_flight:
                config = by_id[future.key]
                try:
                    result = future.result()
                except KilledWorker as exc:
                    result = lost_result(config, f"its worker process died every time it ran ({str(exc).splitlines()[0]})")
                future.release()  # free the result on the cluster once it is here
                yield result
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
