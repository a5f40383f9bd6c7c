"""Memory a run needs, estimated from its study before anything runs (so that
``steps = 10**12`` is one line naming the key, not a ``MemoryError`` in every run).

The estimate counts what grows with the study's sizes: the step log
(:class:`~muonlab.runner.steplog.StepLog`: a float64 loss per step, kept on the device,
copied to the host and once more by the spike statistics; per logged row, the row-step
index in Python sets/dicts, the metric buffers and the CSV text) and the problem's
largest tensors where a setting makes them grow quadratically (AWB-T's d x d
matrices). It is an order of magnitude, checked against the memory the machine has
available now; a study within it may still not fit next to other programs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .settings import ConfigError

# float64 loss per step: device buffer + host copy + spike-statistics copy.
BYTES_PER_STEP = 3 * 8
# Per logged row: ~200 B of Python objects for the row-step index, ~16 metrics as
# float64 on the device and on the host, and their CSV text (~12 characters each,
# held twice while the file is written).
BYTES_PER_ROW = 200 + 16 * 8 * 2 + 16 * 12 * 2
# AWB-T holds A, B, T, W, its gradient and the optimizer's buffers: ~10 d x d float64.
AWBT_MATRICES = 10


def available_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo (Linux), else the physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass(frozen=True)
class RunSize:
    """What a run's memory grows with: ``steps``, ``every``, the seeds run together
    (``len(seeds)`` with ``batch_seeds``, else 1) and AWB-T's largest ``d`` (0 otherwise)."""

    steps: int
    every: int
    seeds: int = 1
    awbt_d: int = 0


def run_bytes(size: RunSize) -> tuple[int, str]:
    """Estimated bytes of one run (one seed batch) and the key that drives them
    (``steps`` or ``problem.d``)."""
    rows = size.steps // size.every + 1
    log = size.seeds * (size.steps * BYTES_PER_STEP + rows * BYTES_PER_ROW)
    problem = size.seeds * AWBT_MATRICES * size.awbt_d**2 * 8
    return log + problem, ("steps" if log >= problem else "problem.d")


def _gib(n: float) -> str:
    return f"{n / 2**30:.3g} GiB"


def check_memory(size: RunSize, available: int | None = None) -> None:
    """:class:`ConfigError` naming the key when one run needs more memory than is available."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    need, key = run_bytes(size)
    if need > available:
        lower = "lower steps or raise every" if key == "steps" else "lower problem.d"
        raise ConfigError(
            f"{key}: one run needs about {_gib(need)} of memory ({size.steps} steps, every = {size.every}), "
            f"more than the {_gib(available)} available; {lower}"
        )
