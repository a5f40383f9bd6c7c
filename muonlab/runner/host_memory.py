"""Keep freed host memory in the process (glibc's malloc), so that a run's per-step
tensors reuse pages instead of faulting new ones in at every step.

glibc hands the free top of its heap back to the OS once it exceeds ``M_TRIM_THRESHOLD``,
which by default follows the largest block freed so far (twice its size: ~1 MB after a
``(32, 64, 64)`` float32 tensor). A training step allocates and frees several such
tensors, so nearly every step shrinks the heap and the next one touches the pages again,
each a page fault that the kernel serves with a zeroed page: a 32-seed AWB-T batch took
10,000-60,000 faults per 300 steps, and collecting fresh ``bmm`` results in a loop ran
at 33 instead of 76 GFLOP/s. Fixed thresholds (allocations up to 32 MB from the heap,
glibc's own ceiling for the dynamic threshold; up to 64 MB of free heap kept) stop the
churn. Numbers are unchanged: torch aligns every CPU buffer to 64 bytes either way, and
no kernel reads memory it did not write.

Process-wide and idempotent; a no-op (False) where the C library has no ``mallopt``
(macOS, musl), and where the user has set glibc's malloc tuning already
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_`` or ``glibc.malloc`` tunables in
``GLIBC_TUNABLES``): their choice stands.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
from collections.abc import Mapping

# <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit glibc
TRIM_THRESHOLD_BYTES = 64 << 20


def _user_tuned_malloc(environ: Mapping[str, str]) -> bool:
    return ("MALLOC_MMAP_THRESHOLD_" in environ or "MALLOC_TRIM_THRESHOLD_" in environ
            or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""))


@functools.cache
def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (module docstring); True when applied."""
    if _user_tuned_malloc(os.environ):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
