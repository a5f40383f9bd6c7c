"""Where runs execute (SPEC 5): a backend takes every run config of a study and yields
results as they complete. Runs are pure functions of their configs (:func:`execute`),
so the backend cannot change what a run produces, only where and in which order it
finishes; the writer puts results back in study order.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Protocol

import torch

from .config import RunConfig
from .run import RunResult, execute


class Backend(Protocol):
    """Runs configs and yields their results in completion order."""

    def run_all(self, configs: Sequence[RunConfig]) -> Iterator[RunResult]: ...


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


class LocalBackend:
    """In-process for ``workers=1``; otherwise a process pool (spawn context, so CUDA and
    torch's thread pools start clean) with ``threads_per_worker`` torch threads each."""

    def __init__(self, *, workers: int = 1, threads_per_worker: int = 1) -> None:
        self.workers = workers
        self.threads_per_worker = threads_per_worker

    def run_all(self, configs: Sequence[RunConfig]) -> Iterator[RunResult]:
        if self.workers == 1:
            for config in configs:
                yield execute(config)
            return
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.threads_per_worker,),
        ) as pool:
            futures = [pool.submit(execute, config) for config in configs]
            for future in as_completed(futures):
                yield future.result()


BACKENDS = ("local",)


def make_backend(name: str, *, workers: int) -> Backend:
    """The backend called ``name`` (``BACKENDS``)."""
    if name == "local":
        return LocalBackend(workers=workers)
    raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
