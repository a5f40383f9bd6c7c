"""Where cells execute (SPEC 5): a backend takes the cells of a study
(:mod:`muonlab.runner.cells`: a seed batch, or one run) and yields each as it finishes,
with where it ran. A cell is a pure function of its configs
(:func:`~muonlab.runner.backends.base.execute_cell`), so a backend cannot change what
it produces, only where and in which order it finishes; the writer puts results back in
study order.

``local`` (:class:`LocalBackend`, the default: in-process or a process pool) and
``dask`` (:class:`~muonlab.runner.backends.dask_backend.DaskBackend`, imported only when
asked for). Both follow one :class:`RetryPolicy`: a cell whose worker process died is
tried again, at most ``retries`` times, and each run is recorded exactly once (SPEC 7).
"""

from __future__ import annotations

from ..settings import ConfigError
from .base import DEFAULT_RETRIES, Backend, RetryPolicy, WorkerLost, call_with_threads
from .local import LocalBackend

BACKENDS = ("local", "dask")


def make_backend(
    name: str,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    retries: int = DEFAULT_RETRIES,
    threads_per_worker: int = 1,
) -> Backend:
    """The backend called ``name`` (``BACKENDS``); not yet entered (nothing started)."""
    if name not in BACKENDS:
        raise ConfigError(f"--backend: must be one of {', '.join(BACKENDS)}, got {name!r}")
    if name == "local":
        if scheduler is not None:
            raise ConfigError("--scheduler: only with --backend dask")
        return LocalBackend(workers=workers, threads_per_worker=threads_per_worker, retries=retries)
    try:
        from .dask_backend import DaskBackend
    except ModuleNotFoundError as exc:
        if exc.name not in ("dask", "distributed"):
            raise
        raise ConfigError(f"--backend dask: needs the dask extra ({exc.name} is not installed): pip install 'muonlab[dask]'") from None

    return DaskBackend(workers=workers, scheduler=scheduler, retries=retries, threads_per_worker=threads_per_worker)


__all__ = [
    "BACKENDS",
    "DEFAULT_RETRIES",
    "Backend",
    "LocalBackend",
    "RetryPolicy",
    "WorkerLost",
    "call_with_threads",
    "make_backend",
]
