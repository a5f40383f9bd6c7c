"""Cells (SPEC 5, 8): the unit of work of every backend.

A cell is S >= 1 run configs that differ only in seed. :func:`plan_cells` groups a
study's runs into cells and decides how each runs: ``batched`` (its seeds trained as one
vectorized run, :func:`~muonlab.runner.batched.execute_batch`) or ``sequential`` (one
:func:`~muonlab.runner.run.execute` per seed, with the reason it cannot be batched).
:func:`work_units` turns the plan into the cells a backend executes: a batched cell
whole, a sequential one split into S = 1 cells so that its seeds still run in parallel.

A backend (:mod:`muonlab.runner.backends`) executes cells wherever it runs them and
hands back one :class:`FinishedCell` each: the cell's results, one per config, and the
:class:`Placement` it ran at, which the study writes into ``manifest.json`` (``cells``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .batched import batch_support
from .config import RunConfig
from .run import RunResult


@dataclass(frozen=True)
class Cell:
    """The seeds of one (problem settings, optimizer config) cell and how they run:
    ``mode`` is ``batched`` or ``sequential`` (with the ``reason``)."""

    configs: tuple[RunConfig, ...]
    mode: str
    reason: str | None = None

    @property
    def key(self) -> str:
        """A name unique among the cells of one plan (cells share no run): the first
        run's id, ``+S-1`` for a cell of S > 1 seeds."""
        first = self.configs[0].run_id
        return first if len(self.configs) == 1 else f"{first}+{len(self.configs) - 1}"

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


@dataclass(frozen=True)
class Placement:
    """Where a cell ran: the backend kind (``in-process``, ``process-pool``, ``dask``),
    the host and process id of the process that executed it, and the Dask worker's
    address (None elsewhere)."""

    backend: str
    host: str
    pid: int
    worker: str | None = None

    @classmethod
    def here(cls, backend: str, worker: str | None = None) -> Placement:
        """This process, as the executor of a cell on ``backend``."""
        return cls(backend, socket.gethostname(), os.getpid(), worker)

    def describe(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"backend": self.backend, "host": self.host, "pid": self.pid}
        if self.worker is not None:
            entry["worker"] = self.worker
        return entry


@dataclass(frozen=True)
class FinishedCell:
    """A cell a backend is done with: one result per config, in order, and where it ran
    (None when it never finished anywhere: its worker kept dying, every run ``failed``)."""

    cell: Cell
    results: tuple[RunResult, ...]
    placement: Placement | None

    def describe(self) -> dict[str, Any]:
        """The cell's entry in ``manifest.json`` (``cells``)."""
        return {
            "run_ids": [c.run_id for c in self.cell.configs],
            "mode": self.cell.mode,
            "ran_on": None if self.placement is None else self.placement.describe(),
        }


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


def single_cells(configs: Iterable[RunConfig]) -> list[Cell]:
    """One S = 1 sequential cell per config (a study without ``batch_seeds``)."""
    return [Cell((config,), "sequential") for config in configs]


def work_units(cells: Sequence[Cell], skip: frozenset[str] = frozenset()) -> list[Cell]:
    """The cells to execute for the plan ``cells`` when the runs in ``skip`` are finished:
    a batched cell with any run missing, whole (it always trains all its seeds, so that
    a resumed study reproduces the bytes of an uninterrupted one: a slice's rounding may
    depend on the batch it is in; the caller records only the missing runs); a
    sequential cell as one S = 1 cell per missing run, so its seeds run in parallel."""
    units: list[Cell] = []
    for cell in cells:
        if cell.mode == "batched":
            if any(c.run_id not in skip for c in cell.configs):
                units.append(cell)
        else:
            units.extend(Cell((c,), cell.mode, cell.reason) for c in cell.configs if c.run_id not in skip)
    return units


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
