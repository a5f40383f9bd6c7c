"""Where runs execute (SPEC 5): a backend takes every run config of a study and yields
results as they complete. Runs are pure functions of their configs
(:func:`~muonlab.runner.run.execute`), so a backend cannot change what a run produces,
only where and in which order it finishes; the writer puts results back in study order.

``local`` (:class:`LocalBackend`, the default: in-process or a process pool) and
``dask`` (:class:`~muonlab.runner.backends.dask_backend.DaskBackend`, imported only when
asked for). Both retry a run whose worker process died, at most ``retries`` times, and
record it exactly once (SPEC 7).
"""

from __future__ import annotations

from ..settings import ConfigError
from .base import DEFAULT_RETRIES, Backend, WorkerLost, call_with_threads
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


__all__ = ["BACKENDS", "DEFAULT_RETRIES", "Backend", "LocalBackend", "WorkerLost", "call_with_threads", "make_backend"]
