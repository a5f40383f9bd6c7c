"""What the run loop asks of an optimizer, filled in for those that lack it (issue 17).

muonlab's own optimizers have ``train()`` / ``eval()`` (the schedule-free switch) and
``last_stats_tensors()``; an external ``torch.optim.Optimizer`` (:mod:`muonlab.optim.external`)
may have neither. For those, :func:`set_mode` is a no-op and :class:`ParamDeltaStats`
measures ``update_fro`` / ``update_rms`` of the parameter change ``theta_t - theta_{t-1}``
-- the same definition the baselines record -- at logged steps only: one parameter copy
before such a step, device tensors after it, no host sync.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from muonlab.optim.stats import StepStats


def set_mode(optimizer: Any, mode: str) -> None:
    """Call ``optimizer.train()`` or ``optimizer.eval()`` (``mode``) when it has one."""
    switch = getattr(optimizer, mode, None)
    if switch is not None:
        switch()


def want_stats(optimizer: Any, wanted: bool) -> None:
    """Tell ``optimizer`` whether the next step's statistics will be read (the run loop
    logs only some steps); a no-op for an optimizer without ``want_stats``."""
    switch = getattr(optimizer, "want_stats", None)
    if switch is not None:
        switch(wanted)


def reports_stats(optimizer: Any) -> bool:
    """Whether ``optimizer`` (and every part of a hybrid one) has ``last_stats_tensors()``."""
    parts = getattr(optimizer, "optimizers", {"": optimizer})
    return all(hasattr(part, "last_stats_tensors") for part in parts.values())


class ParamDeltaStats:
    """``update_fro`` / ``update_rms`` of the change of ``params`` over one step."""

    def __init__(self, params: list[Tensor]) -> None:
        self.params = params
        self._before: list[Tensor] = []

    @torch.no_grad()
    def before_step(self) -> None:
        self._before = [p.detach().clone() for p in self.params]

    @torch.no_grad()
    def after_step(self) -> dict[str, Tensor]:
        stats = StepStats()
        for p, before in zip(self.params, self._before):
            stats.add_update(p.detach() - before)
        self._before = []
        return stats.result()
