"""A run target for the worker-death tests of test_backends.py: importable by worker
processes (it is pickled by reference) and light to import (only the runner)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from muonlab.runner.config import RunConfig
from muonlab.runner.run import RunResult, execute


# How long the first attempt of the ``slow`` run waits: far longer than the poison run
# takes to die, so the broken pool (which terminates its workers) always ends it first.
SLOW_S = 120.0


def crashing_run(config: RunConfig, *, poison: str, flaky: str, marks: Path, slow: str = "") -> RunResult:
    """:func:`execute`, except that it kills its own worker process: always for run
    ``poison``, on the first attempt for run ``flaky``; the first attempt of run
    ``slow`` waits ``SLOW_S`` seconds first (so it is still in the pool when the poison
    run dies). Each attempt leaves a file ``marks/<run_id>.<n>`` (created exclusively,
    so concurrent attempts count right)."""
    attempt = 0
    while True:
        try:
            os.close(os.open(marks / f"{config.run_id}.{attempt}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            attempt += 1
    if config.run_id == poison or (config.run_id == flaky and attempt == 0):
        os._exit(17)
    if config.run_id == slow and attempt == 0:
        time.sleep(SLOW_S)
    return execute(config)


def attempts(marks: Path, run_id: str) -> int:
    """How many times ``crashing_run`` started run ``run_id``."""
    return len(list(marks.glob(f"{run_id}.*")))
