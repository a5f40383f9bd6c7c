"""Device-side buffers for per-step values (SPEC 8: no host sync per step).

The loss of every step goes into one preallocated buffer (spike statistics need every
step); logged rows (every ``every`` steps and the last step) go into one buffer per
metric. Nothing is read back until :meth:`StepLog.check_divergence` (at flush points)
or :meth:`StepLog.to_host` (the end of the run).

A seed batch (``batch=S``, :mod:`muonlab.runner.batched`) keeps a trailing seed axis on
every buffer and a divergence step per seed.
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
    """Per-step loss buffer and per-row metric buffers on ``device`` (float64), of shape
    ``(steps,)`` / ``(rows,)``, or ``(steps, S)`` / ``(rows, S)`` for a batch of S seeds."""

    def __init__(self, steps: int, every: int, device: torch.device, *, batch: int | None = None, extra: Sequence[int] = ()) -> None:
        self.device = device
        self._shape = () if batch is None else (batch,)
        self.losses = torch.full((steps, *self._shape), float("nan"), dtype=torch.float64, device=device)
        self.steps = logged_steps(steps, every, extra)
        self._row = {t: i for i, t in enumerate(self.steps)}
        # Logged metrics: one (rows, metrics, *seed axis) table; _columns maps name -> index.
        self._columns: dict[str, int] = {}
        self._table = torch.empty((len(self.steps), 0, *self._shape), dtype=torch.float64, device=device)
        # First step with a NaN/inf loss (or parameters) of each seed; None while finite.
        self.diverged: list[int | None] = [None] * (1 if batch is None else batch)

    def record_loss(self, step: int, loss: Tensor) -> None:
        self.losses[step - 1] = loss.detach()

    def is_logged(self, step: int) -> bool:
        return step in self._row

    def record_row(self, step: int, values: Mapping[str, Tensor]) -> None:
        """Store ``values`` (0-d, or ``(S,)`` in a batch) as the row of ``step`` (device
        copies only). A metric first seen at a later row reads NaN in the earlier rows."""
        row = self._row[step]
        if list(values) == list(self._columns):
            # The usual case (the same metrics every row): one stack and one copy.
            self._table[row] = torch.stack([v.detach() for v in values.values()])
            return
        for key, value in values.items():
            if key not in self._columns:
                self._columns[key] = len(self._columns)
                fresh = torch.full((len(self.steps), 1, *self._shape), float("nan"), dtype=torch.float64, device=self.device)
                self._table = torch.cat([self._table, fresh], dim=1)
            self._table[row, self._columns[key]] = value.detach()

    def record_overflow(self, step: int) -> None:
        """Step ``step`` overflowed before it finished: its loss reads inf (so that
        :meth:`check_divergence` finds it) and its row, if logged, NaN."""
        self.losses[step - 1] = float("inf")
        if step in self._row:
            self._table[self._row[step]] = float("nan")

    def check_divergence(self, upto: int, params: Sequence[Tensor]) -> bool:
        """At a flush point (one host sync): for each seed not yet diverged, record the
        first step ``<= upto`` with a NaN/inf loss, or ``upto`` when only its parameters
        are non-finite (``params`` carry the seed axis first in a batch). Returns True
        when every seed has diverged (the run stops)."""
        n = len(self.diverged)
        bad = ~torch.isfinite(self.losses[:upto].reshape(upto, n))
        # argmax of a bool column is its first True (0 when there is none: masked by any)
        first_bad = bad.to(torch.uint8).argmax(dim=0) + 1
        params_ok = torch.stack([torch.isfinite(p.detach()).reshape(n, -1).all(dim=1) for p in params]).all(dim=0)
        any_bad, first, ok = torch.stack([bad.any(dim=0).long(), first_bad, params_ok.long()]).tolist()
        for i in range(n):
            if self.diverged[i] is None and (any_bad[i] or not ok[i]):
                self.diverged[i] = first[i] if any_bad[i] else upto
        return all(d is not None for d in self.diverged)

    def to_host(self, upto: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The losses of steps ``1..upto`` and the columns ``step``, ``loss``, metrics... of
        the rows with step ``<= upto`` (one copy per buffer; a seed axis stays last)."""
        losses = self.losses[:upto].cpu().numpy()
        n_rows = sum(1 for t in self.steps if t <= upto)
        steps = np.asarray(self.steps[:n_rows], dtype=np.int64)
        columns: dict[str, np.ndarray] = {"step": steps, "loss": losses[steps - 1]}
        table = self._table[:n_rows].cpu().numpy()
        for key, index in self._columns.items():
            columns[key] = table[:, index]
        return losses, columns
