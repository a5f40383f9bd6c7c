"""Device-side buffers for per-step values (SPEC 8: no host sync per step).

The loss of every step goes into one preallocated buffer (spike statistics need every
step); logged rows (every ``every`` steps and the last step) go into one buffer per
metric. Nothing is read back until :meth:`StepLog.first_nonfinite` (a divergence check
at flush points) or :meth:`StepLog.to_host` (the end of the run).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor


def logged_steps(steps: int, every: int, extra: Sequence[int] = ()) -> list[int]:
    """Steps that get a CSV row: multiples of ``every``, the ``extra`` steps up to
    ``steps``, and the last step, in order."""
    return sorted({*range(every, steps + 1, every), *(t for t in extra if 1 <= t <= steps), steps})


class StepLog:
    """Per-step loss buffer and per-row metric buffers on ``device`` (float64)."""

    def __init__(self, steps: int, every: int, device: torch.device, *, extra: Sequence[int] = ()) -> None:
        self.device = device
        self.losses = torch.full((steps,), float("nan"), dtype=torch.float64, device=device)
        self.steps = logged_steps(steps, every, extra)
        self._row = {t: i for i, t in enumerate(self.steps)}
        self._columns: dict[str, Tensor] = {}

    def record_loss(self, step: int, loss: Tensor) -> None:
        self.losses[step - 1] = loss.detach()

    def is_logged(self, step: int) -> bool:
        return step in self._row

    def record_row(self, step: int, values: Mapping[str, Tensor]) -> None:
        """Store the 0-d tensors ``values`` as the row of ``step`` (a device copy only).
        A metric first seen at a later row reads NaN in the earlier rows."""
        row = self._row[step]
        for key, value in values.items():
            column = self._columns.get(key)
            if column is None:
                column = torch.full((len(self.steps),), float("nan"), dtype=torch.float64, device=self.device)
                self._columns[key] = column
            column[row] = value.detach()

    def first_nonfinite(self, upto: int) -> int | None:
        """First step ``<= upto`` whose loss is NaN/inf, or None (one host sync)."""
        bad = torch.nonzero(~torch.isfinite(self.losses[:upto]))
        return int(bad[0, 0]) + 1 if bad.numel() else None

    def to_host(self, upto: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The losses of steps ``1..upto`` and the columns ``step``, ``loss``, metrics... of
        the rows with step ``<= upto`` (one copy per buffer)."""
        losses = self.losses[:upto].cpu().numpy()
        n_rows = sum(1 for t in self.steps if t <= upto)
        steps = np.asarray(self.steps[:n_rows], dtype=np.int64)
        columns: dict[str, np.ndarray] = {"step": steps, "loss": losses[steps - 1]}
        for key, column in self._columns.items():
            columns[key] = column[:n_rows].cpu().numpy()
        return losses, columns
