"""Per-step statistics: collected as tensors during ``step()`` (no host sync), reduced
over the matrices of the optimizer at the end of the step.

Aggregation over several matrices (documented contract of ``last_stats``):
``update_fro = sqrt(sum of squared Frobenius norms)``, ``update_rms`` over all entries,
column statistics (``r_q95``, ``r_max``, ``c_used_min``, ``c_used_mean``,
``frac_clipped``) over the concatenation of all columns, per-matrix scalars (``eta_hat``)
averaged, group scalars (``beta_t``, ``c_t``, ``eta_t``, certificates) taken as they are.
In batched mode every statistic has shape ``(S,)``: reductions never cross slices.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch import Tensor


class StepStats:
    """Accumulates the statistics of one ``step()``; ``batch_ndim`` leading axes are kept."""

    def __init__(self, batch_ndim: int = 0) -> None:
        self.batch_ndim = batch_ndim
        self._update_sq: list[Tensor] = []
        self._numel = 0
        self._ratios: list[Tensor] = []
        self._scales: list[Tensor] = []
        self._means: dict[str, list[Tensor]] = defaultdict(list)
        self._scalars: dict[str, Tensor] = {}

    def add_update(self, update: Tensor, scale: float | Tensor = 1.0) -> None:
        """Record the step term ``scale * update`` of one parameter (read only)."""
        dims = tuple(range(self.batch_ndim, update.ndim))
        sq = update.float().square().sum(dim=dims) if dims else update.float().square()
        self._update_sq.append(sq * (scale * scale))
        self._numel += update[(0,) * self.batch_ndim].numel()

    def add_energy_ratios(self, r: Tensor) -> None:
        """TrasMuon ``r_j`` of one matrix ``(..., n)``, pooled over all matrices' columns."""
        self._ratios.append(r.detach().float())

    def add_column_scales(self, c: Tensor) -> None:
        """TrasMuon ``c_j`` used by one matrix ``(..., n)``, pooled over all columns."""
        self._scales.append(c.detach().float())

    def add_mean(self, key: str, value: Tensor) -> None:
        """A per-matrix scalar (shape ``batch``), averaged over matrices."""
        self._means[key].append(value.detach().float())

    def set(self, key: str, value: Tensor) -> None:
        """A scalar shared by the group (already of the batch shape or 0-d)."""
        self._scalars[key] = value.detach().to(torch.float32, copy=True)

    def result(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        if self._update_sq:
            total = torch.stack(self._update_sq).sum(dim=0)
            out["update_fro"] = total.sqrt()
            out["update_rms"] = (total / self._numel).sqrt()
        for key, values in self._means.items():
            out[key] = torch.stack(values).mean(dim=0)
        if self._ratios:
            r = torch.cat(self._ratios, dim=-1)
            out["r_q95"] = torch.quantile(r, 0.95, dim=-1)
            out["r_max"] = r.amax(dim=-1)
        if self._scales:
            c = torch.cat(self._scales, dim=-1)
            out["c_used_min"] = c.amin(dim=-1)
            out["c_used_mean"] = c.mean(dim=-1)
            out["frac_clipped"] = (c < 1.0).float().mean(dim=-1)
        out.update(self._scalars)
        return out


class StatsMixin:
    """``last_stats`` / ``last_stats_tensors`` for every optimizer built by ``build``."""

    _last_stats: dict[str, Tensor]

    def last_stats_tensors(self) -> dict[str, Tensor]:
        """Statistics of the latest step as tensors (0-d, or ``(S,)`` when batched); no sync."""
        return dict(getattr(self, "_last_stats", {}))

    def last_stats(self) -> dict[str, float | list[float]]:
        """Statistics of the latest step as Python numbers (reads device values: syncs).
        Batched statistics come back as one float per slice."""
        return {k: (v.item() if v.ndim == 0 else v.tolist()) for k, v in self.last_stats_tensors().items()}
