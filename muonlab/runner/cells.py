"""Cells (SPEC 8): the runs of a study that differ only in seed, grouped into one
unit of work, and the plan of how each cell runs (one seed batch, or one run per seed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .backends import Backend
from .backends.base import call_with_threads
from .batched import batch_support, execute_batch
from .config import RunConfig
from .run import RunResult


@dataclass(frozen=True)
class Cell:
    """The seeds of one (problem settings, optimizer config) cell and how they run:
    ``mode`` is ``batched`` or ``sequential`` (with the ``reason``)."""

    configs: tuple[RunConfig, ...]
    mode: str
    reason: str | None = None

    def describe(self) -> dict[str, Any]:
        """The cell's entry in ``manifest.json`` (``batching``)."""
        first = self.configs[0]
        entry: dict[str, Any] = {
            "cell": {"optimizer": first.label, "settings": dict(first.settings), "hparams": dict(first.hparams)},
            "mode": self.mode,
            "seeds": [c.seed for c in self.configs],
            "run_ids": [c.run_id for c in self.configs],
        }
        if self.reason is not None:
            entry["reason"] = self.reason
        return entry


def _cell_key(config: RunConfig) -> str:
    return json.dumps({k: v for k, v in config.identity().items() if k != "seed"}, sort_keys=True)


def plan_cells(configs: Sequence[RunConfig]) -> list[Cell]:
    """Group ``configs`` into cells (runs equal but for the seed, in first-seen order)
    and decide for each whether it runs batched (SPEC 8) or one run per seed."""
    groups: dict[str, list[RunConfig]] = {}
    for config in configs:
        groups.setdefault(_cell_key(config), []).append(config)
    cells = []
    for group in groups.values():
        reason = batch_support(group[0])
        if reason is None and len(group) == 1:
            reason = "a single seed"
        cells.append(Cell(tuple(group), "sequential" if reason else "batched", reason))
    return cells


def describe_plan(cells: Sequence[Cell]) -> str:
    """One line for the CLI: how many cells run batched, and why the others do not."""
    batched = [c for c in cells if c.mode == "batched"]
    reasons: dict[str, int] = {}
    for cell in cells:
        if cell.reason is not None:
            reasons[cell.reason] = reasons.get(cell.reason, 0) + 1
    text = f"batch_seeds: {len(batched)} of {len(cells)} cells run as seed batches ({sum(len(c.configs) for c in batched)} runs)"
    if reasons:
        text += "; one run per seed for " + "; ".join(f"{n} cell{'s' * (n > 1)}: {r}" for r, n in reasons.items())
    return text


def run_cells(cells: Sequence[Cell], backend: Backend, *, skip: frozenset[str] = frozenset()) -> Iterator[RunResult]:
    """Results of every cell but the runs in ``skip`` (finished earlier): seed batches
    run in this process one after another, on one torch thread (each is one vectorized
    program already), the
    sequential runs go to ``backend``. A batch always trains all its seeds, so that a
    resumed study reproduces the bytes of an uninterrupted one (a slice's rounding may
    depend on the batch it is in)."""
    for cell in cells:
        if cell.mode == "batched" and any(c.run_id not in skip for c in cell.configs):
            # One torch thread, as every backend runs a single run: the same arithmetic
            # whatever the backend, and no oversubscription stalls on a busy machine.
            results = call_with_threads(execute_batch, cell.configs, 1)
            yield from (r for r in results if r.run_id not in skip)
    sequential = [c for cell in cells if cell.mode == "sequential" for c in cell.configs if c.run_id not in skip]
    yield from backend.run_all(sequential)
