"""What every backend shares (SPEC 5, 7): the protocol, the per-run call made on a
worker, and the result recorded for a run whose worker kept dying."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import torch

from ..config import RunConfig
from ..run import RunResult, failed_result

# Worker deaths a run may cause before it is recorded as failed (each death while the
# run was executing counts once; the run gets DEFAULT_RETRIES + 1 attempts in all).
DEFAULT_RETRIES = 2

RunTarget = Callable[[RunConfig], RunResult]


class Backend(Protocol):
    """Runs configs and yields their results in completion order.

    A backend that holds resources (a cluster, a scheduler connection) is also a
    context manager: entering it acquires them, or raises
    :class:`~muonlab.runner.settings.ConfigError` when that is impossible, and
    :func:`~muonlab.runner.study.run_study` enters it before writing anything.
    """

    def run_all(self, configs: Sequence[RunConfig]) -> Iterator[RunResult]: ...


class WorkerLost(RuntimeError):
    """The worker process executing a run died every time the run was tried."""


def check_pool_options(*, workers: int, retries: int) -> None:
    """ValueError naming the option when ``workers < 1`` or ``retries < 0``."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")


def call_with_threads(target: RunTarget, config: RunConfig, threads: int) -> RunResult:
    """``target(config)`` with ``threads`` torch threads, the previous count restored.

    Every backend runs a config through this, in the driver or on a worker, so a run
    computes with the same number of threads whatever the backend and worker count
    (CPU reductions may depend on it; SPEC 7 determinism).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return target(config)
    finally:
        torch.set_num_threads(previous)


def lost_result(config: RunConfig, message: str) -> RunResult:
    """The ``failed`` result of a run whose retries after worker deaths ran out."""
    return failed_result(config, WorkerLost(message))
