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
settings rule out a batch (the adapter's ``batch_limit``), or with a ``[diagnostics]``
plugin that cannot observe a seed batch run one run per seed, and the plan says why
(:func:`~muonlab.runner.cells.plan_cells`, written to ``manifest.json`` and printed by
the CLI). The other diagnostics observe each seed of the batch on its own slice
(:mod:`muonlab.runner.seed_observer`).
"""

from __future__ import annotations

from collections.abc import Sequence

from muonlab import optim

from .adapters import adapter
from .adapters.base import Seeds
from .config import RunConfig
from .run import RunResult, failed_result, run_seeds


def batch_support(config: RunConfig) -> str | None:
    """Why the cell of ``config`` cannot be seed-batched, or None when it can."""
    entry = adapter(config.problem)
    if not entry.batches:
        return f"problem {config.problem!r} has no seed-batched path"
    if "batched" not in optim.hyperparameters(config.optimizer):
        return f"optimizer {config.optimizer!r} has no batched mode"
    if unbatchable := config.diagnostics.unbatchable():
        return f"[diagnostics] {', '.join(unbatchable)} cannot observe a seed batch"
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
