"""A run target for the worker-death tests of test_backends.py: importable by worker
processes (it is pickled by reference) and light to import (only the runner)."""

from __future__ import annotations

import os
from pathlib import Path

from muonlab.runner.config import RunConfig
from muonlab.runner.run import RunResult, execute


def crashing_run(config: RunConfig, *, poison: str, flaky: str, marks: Path) -> RunResult:
    """:func:`execute`, except that it kills its own worker process: always for run
    ``poison``, on the first attempt for run ``flaky``. Each attempt leaves a file
    ``marks/<run_id>.<n>`` (created exclusively, so concurrent attempts count right)."""
    attempt = 0
    while True:
        try:
            os.close(os.open(marks / f"{config.run_id}.{attempt}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            attempt += 1
    if config.run_id == poison or (config.run_id == flaky and attempt == 0):
        os._exit(17)
    return execute(config)


def attempts(marks: Path, run_id: str) -> int:
    """How many times ``crashing_run`` started run ``run_id``."""
    return len(list(marks.glob(f"{run_id}.*")))
