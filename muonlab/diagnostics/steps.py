"""Effective step size ``s_t = ||theta_t - theta_{t-1}||_2 / sqrt(P)`` (T F.2; SPEC 3, 4).

``P`` is the total number of parameter entries, so ``s_t`` is the RMS of the realised
update and compares optimizers whose learning rates mean different things.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

import numpy as np
import torch


def effective_step_size(prev: Sequence[torch.Tensor], cur: Sequence[torch.Tensor]) -> torch.Tensor:
    """``s_t`` over matching lists of tensors, as a 0-d float64 tensor (no host sync)."""
    if len(prev) != len(cur) or len(cur) == 0:
        raise ValueError(
            f"prev and cur must be non-empty lists of equal length, got {len(prev)} and {len(cur)}"
        )
    for a, b in zip(prev, cur):
        if a.shape != b.shape:
            raise ValueError(f"prev and cur shapes must match, got {tuple(a.shape)} and {tuple(b.shape)}")
    # Accumulate in float64: summing many tiny float32 squares loses digits.
    squares = torch.stack(
        [(b.detach().double() - a.detach().double()).square().sum() for a, b in zip(prev, cur)]
    )
    n_entries = sum(t.numel() for t in cur)
    return squares.sum().sqrt() / math.sqrt(n_entries)


class StepSizeTracker:
    """Keeps a snapshot of the parameters and the last ``window`` values of ``s_t``
    (all of them when ``window`` is None); ``median()`` summarises them (T F.2)."""

    def __init__(self, *, window: int | None = None) -> None:
        if window is not None and (not isinstance(window, int) or window < 1):
            raise ValueError(f"StepSizeTracker: window must be an int >= 1 or None, got {window!r}")
        self._previous: list[torch.Tensor] | None = None
        self._values: deque[torch.Tensor] = deque(maxlen=window)

    def update(self, params: Sequence[torch.Tensor]) -> torch.Tensor | None:
        """Record ``s_t`` against the previous snapshot (``None`` on the first call)."""
        current = [p.detach().clone() for p in params]
        step = None if self._previous is None else effective_step_size(self._previous, current)
        if step is not None:
            self._values.append(step)
        self._previous = current
        return step

    def median(self) -> float:
        """Median of the recorded ``s_t`` (mean of the two middle values); NaN if none."""
        if not self._values:
            return math.nan
        return float(np.median(torch.stack(list(self._values)).cpu().numpy()))
