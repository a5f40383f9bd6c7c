"""Seed batching (SPEC 8, study key ``batch_seeds``): the S seeds of one cell (same
problem settings, same optimizer and hyperparameters) trained as one vectorized run.

Every problem adapter (:mod:`muonlab.runner.adapters`) is written over a leading seed
axis: a matrix problem (AWB-T, river valley) becomes one ``(S, m, n)`` parameter driven
by the Muon family's ``batched=True`` mode (SPEC 1), slice i being seed i's problem
instance with its own injection events and its own optimizer statistics; the networks
(digits MLP, Helmholtz PINN, GPT) run as vmapped ensembles. The objective is the sum of
the per-seed losses, whose gradient in slice i is seed i's gradient. The batch is then
split into one :class:`~muonlab.runner.run.RunResult` per seed, with the run's own
``run_id`` (:func:`~muonlab.runner.run.run_seeds`, the sequence of every run):
batching is an execution detail. The results equal those of the sequential runs within float32
tolerance (batched matmuls may round differently in the last digits, so CSV bytes of a
batched and a sequential run can differ there; the same study twice gives identical
bytes either way).

Divergence is per seed: each seed's first NaN/inf step is found at the flush points
(:meth:`~muonlab.runner.steplog.StepLog.check_divergence`) and its rows are cut there,
while the other seeds go on. A diverged slice is not masked: every batched operation
(matmuls, norms, medians, statistics) reduces within a slice, so its NaNs cannot reach
the other seeds (tested); the batch stops early only once every seed has diverged.

Cells whose optimizer has no batched mode (sgd, adamw, sf-adamw, da/sc/df-muon), whose
settings rule out a batch (the adapter's ``batch_limit``), or with ``[diagnostics]``
observers run one run per seed, and the plan says why
(:func:`plan_cells`, written to ``manifest.json`` and printed by the CLI).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from muonlab import optim

from .adapters import adapter
from .adapters.base import Seeds
from .backends import Backend
from .backends.base import call_with_threads
from .config import RunConfig
from .run import RunResult, failed_result, run_seeds


def batch_support(config: RunConfig) -> str | None:
    """Why the cell of ``config`` cannot be seed-batched, or None when it can."""
    entry = adapter(config.problem)
    if not entry.batches:
        return f"problem {config.problem!r} has no seed-batched path"
    if "batched" not in optim.hyperparameters(config.optimizer):
        return f"optimizer {config.optimizer!r} has no batched mode"
    if config.diagnostics.enabled:
        return "[diagnostics] observers follow one run each"
    return entry.batch_limit(config)


def run_batch(configs: Sequence[RunConfig]) -> list[RunResult]:
    """Train the seeds of one cell (``configs`` differ in ``seed`` only) as one batch and
    return one result per config, in order (see the module docstring)."""
    return run_seeds(Seeds(tuple(configs), batched=True))


def execute_batch(configs: Sequence[RunConfig]) -> list[RunResult]:
    """:func:`run_batch`, with an exception turned into a ``failed`` result per seed."""
    try:
        return run_batch(configs)
    except Exception as exc:  # the cell's failure must not stop the study (SPEC 7)
        return [failed_result(config, exc) for config in configs]


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
