"""Seeding of stray randomness inside a run (SPEC 5).

Problems and injections draw from their own seeded generators; this context also seeds
the global torch / numpy / python generators for anything that does not (e.g. a
library's default init), and restores them afterwards so a run leaves no trace in the
calling process and two runs in one process cannot influence each other.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch (CPU and CUDA), numpy's legacy global generator and ``random`` with
    ``seed`` for the duration of the block, restoring their previous states on exit."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)
