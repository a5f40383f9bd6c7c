"""Cells, the unit of work of every backend (SPEC 5, 7, 8): the work units of a plan and
the one worker-death policy. (Byte identity across backends, with the cells run on the
workers: tests/runner/test_backends.py.)"""

from __future__ import annotations

from collections import Counter

import pytest

from muonlab.runner import parse_study
from muonlab.runner.backends import RetryPolicy
from muonlab.runner.cells import Cell, plan_cells, work_units

# Planned as: per fix_V value, a normuon and a trasmuon seed batch and an adamw cell of
# one run per seed (no batched mode).
STUDY = """
seeds = 2
steps = 5
batch_seeds = true

[problem]
name = "awbt"
d = 4
fix_V = [true, false]

[[optimizers]]
name = "normuon"
lr = 0.01

[[optimizers]]
name = "trasmuon"
lr = 0.01

[[optimizers]]
name = "adamw"
lr = 0.01
"""
RUNS = parse_study(STUDY, default_name="cells").runs()


def test_work_units_keep_batches_whole_and_split_sequential_cells() -> None:
    plan = plan_cells(RUNS)
    assert [(c.mode, len(c.configs)) for c in plan] == [("batched", 2), ("batched", 2), ("sequential", 2)] * 2
    assert work_units(plan) == [
        unit for cell in plan for unit in ([cell] if cell.mode == "batched" else [Cell((c,), cell.mode, cell.reason) for c in cell.configs])
    ]
    # One seed of the first batch and one of the first sequential cell finished: the
    # batch is executed whole, the sequential cell only for its missing seed; finished
    # cells not at all.
    first_batch, first_sequential = plan[0], plan[2]
    skip = frozenset({first_batch.configs[1].run_id, first_sequential.configs[0].run_id} | {c.run_id for c in plan[1].configs})
    units = work_units(plan, skip)
    assert units[0] == first_batch
    assert plan[1] not in units
    assert units[1].configs == (first_sequential.configs[1],)
    assert sum(len(u.configs) for u in units) == len(RUNS) - len(skip) + 1  # + the batch's finished seed, run again
    keys = [u.key for u in work_units(plan)]
    assert len(set(keys)) == len(keys)


def test_retry_policy_charges_a_death_only_to_a_cell_that_was_alone() -> None:
    a, b = (Cell((config,), "sequential") for config in RUNS[4:6])
    batch = plan_cells(RUNS)[0]
    policy = RetryPolicy(retries=1)
    charges: Counter[str] = Counter()
    # A death that took two cells down is nobody's: both tried again, alone.
    assert policy.after_death([a, b], charges) == ([a, b], [])
    assert charges == {a.key: 0, b.key: 0}
    # Alone, a dies twice: charged each time, given up after retries = 1.
    assert policy.after_death([a], charges) == ([a], [])
    assert policy.after_death([a], charges) == ([], [a])
    assert charges == {a.key: 2, b.key: 0}
    # A batched cell given up: every seed failed once, with the reason.
    assert policy.after_death([batch], charges) == ([batch], [])
    assert policy.after_death([batch], charges) == ([], [batch])
    lost = policy.lost(batch, "alone (2 attempts; pool broke)")
    assert [r.run_id for r in lost.results] == [c.run_id for c in batch.configs]
    assert {r.status for r in lost.results} == {"failed"} and lost.placement is None
    assert {r.error for r in lost.results} == {"WorkerLost: its worker process died every time it ran alone (2 attempts; pool broke)"}
    with pytest.raises(ValueError, match="retries must be >= 0"):
        RetryPolicy(retries=-1)
