"""Per-column closed-loop trace (SPEC 11): the applied column scales ``c_j`` of the target
matrix split by the injection's column sets, logged as row metrics without a host sync.

At a logged step t, with ``J_prev`` the columns of the latest event ``<= t`` and
``J_next`` those of the next event ``> t`` (both known in advance: J is a pure function
of (seed, step), SPEC 2.2):

- ``c_J``: mean ``c_j`` over ``J_prev`` (the injected columns, after their event);
- ``c_Jnext``: mean ``c_j`` over ``J_next`` (the same columns before their event, and a
  placebo set of the same size half-way between events);
- ``c_other``: mean ``c_j`` over the columns in neither set.

NaN where a set does not exist (before the first event, after the last). Only for
optimizers that keep the applied scales as ``state["c_last"]`` (TrasMuon's variants);
the columns are the parameter's own, so the trace is column-aligned with the injection
when the feature basis is the identity (AWB-T ``fix_V = true``).
:func:`muonlab.analysis.closed_loop.event_triggered` aligns the trace with the events.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

COLUMN_METRICS = ("c_J", "c_Jnext", "c_other")


def with_column_scales(metrics: Callable[[], dict[str, Tensor]], optimizer: Any, W: Tensor, injection: Any,
                       steps: int) -> Callable[[], dict[str, Tensor]]:
    """``metrics`` plus :data:`COLUMN_METRICS` when the optimizer has column scales and
    there is an injection (``OutlierInjection`` or ``OutlierInjectionBatch``)."""
    if injection is None or "c_min" not in optimizer.defaults:
        return metrics
    singles = getattr(injection, "injections", (injection,))
    m, n = W.shape[-2:]
    event_steps = sorted(injection.event_steps(steps))
    # Built once and reused by every logged row (a row copies its values): per event, its
    # column mask and size; per (previous, next) event pair, the mask of the other columns.
    masks: dict[int | None, tuple[Tensor, Tensor]] = {}
    others: dict[tuple[int | None, int | None], tuple[Tensor, Tensor]] = {}
    nan: list[Tensor] = []

    def counted(where: Tensor) -> tuple[Tensor, Tensor]:
        return where, where.sum(dim=-1)

    def mask(event: int) -> tuple[Tensor, Tensor]:
        """``(S, n)`` (or ``(n,)``) bool mask of the event's columns and its size."""
        if event not in masks:
            rows = torch.zeros(len(singles), n, dtype=torch.bool)
            for i, single in enumerate(singles):
                rows[i, torch.from_numpy(single.draw(event, m, n)[0])] = True
            masks[event] = counted((rows if W.ndim == 3 else rows[0]).to(W.device))
        return masks[event]

    def other(prev: int | None, following: int | None) -> tuple[Tensor, Tensor]:
        """The mask of the columns in neither event's set, and its size."""
        if (prev, following) not in others:
            used = torch.zeros(W.shape[:-2] + (n,), dtype=torch.bool, device=W.device)
            for event in (prev, following):
                if event is not None:
                    used |= mask(event)[0]
            others[prev, following] = counted(~used)
        return others[prev, following]

    def mean_over(c: Tensor, where: tuple[Tensor, Tensor]) -> Tensor:
        return (c * where[0]).sum(dim=-1) / where[1]

    def with_columns() -> dict[str, Tensor]:
        out = metrics()
        state = optimizer.state.get(W, {})
        if "c_last" not in state:
            return out
        t, c = state["step"], state["c_last"]
        split = bisect.bisect_right(event_steps, t)
        prev = event_steps[split - 1] if split else None
        following = event_steps[split] if split < len(event_steps) else None
        if not nan:
            nan.append(torch.full(c.shape[:-1], float("nan"), dtype=c.dtype, device=c.device))
        for key, event in (("c_J", prev), ("c_Jnext", following)):
            out[key] = nan[0] if event is None else mean_over(c, mask(event))
        out["c_other"] = mean_over(c, other(prev, following))
        return out

    return with_columns
