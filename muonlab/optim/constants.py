"""Cached 0-d tensors for the fixed numbers of an optimizer step (``eps``, ``k``, 1.0...).

An elementwise op with a Python number operand wraps the number into a tensor and casts
it to the other operand's dtype on every call (``scalar_tensor`` / ``_to_copy``), which
doubles the cost of an op on a 64-vector (about 10 vs 5 us on a loaded 2-core CPU). A 0-d
tensor of that dtype, made once, holds the same cast value, so the results are the same
bits (the op computes in the tensor's dtype either way). For numbers that repeat over
the steps (``eps``, ``k``, ``lr^2`` while the lr is constant; a scheduled lr adds one
entry per value to the bounded cache); numbers that change every step (bias
corrections) stay Python numbers. A constant is an operand only; never modify it in place.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor


@functools.lru_cache(maxsize=512)
def constant(value: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The 0-d tensor ``value`` of ``dtype`` on ``device`` (one per key, shared)."""
    return torch.tensor(value, dtype=dtype, device=device)
