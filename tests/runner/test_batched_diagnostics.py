"""[diagnostics] in seed-batched cells (SPEC 4, 8): each seed of a batch is observed on
its own slice with its own loss, so its columns are those of its run of its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.runner.first_step_bounds import awbt_first_step_bounds

from muonlab.runner import parse_study, run
from muonlab.runner.adapters import Seeds, build_cell_task, build_task
from muonlab.runner.batched import run_batch
from muonlab.runner.cells import plan_cells
from muonlab.runner.observers import DIAGNOSTICS, RunObserver
from muonlab.runner.observers.protocol import Diagnostic
from muonlab.runner.seed_observer import batch_observer
from muonlab.runner.seeding import seeded

EPS = 2.0**-24
ALL = """
[diagnostics]
dom_bulk = { k = 3, every = 2, refresh = 4, vectors = ["update", "gradient", "momentum"] }
gram = { every = 2 }
step_size = true
spectrum = { n_probes = 2, n_steps = 8, grid = 64 }
"""


def study(optimizer: str, *, d: int, lr: float, steps: int, diagnostics: str = ALL) -> str:
    return (f"seeds = 2\nsteps = {steps}\nevery = 1\nbatch_seeds = true\n"
            f'[problem]\nname = "awbt"\nd = {d}\nkappa = 100.0\nfix_V = false\n'
            f'[[optimizers]]\nname = "{optimizer}"\nlr = {lr}\n' + diagnostics)


def test_batch_observes_each_seed_as_its_own_run_from_the_same_state() -> None:
    """Fed the same state (parameters, gradient, first moment), seed i's columns and
    spectrum in the batch are bit-identical to a single-run observer's: the same loss
    function, the same generators, the same arithmetic on the slice (no tolerance: a
    seed observed on the summed objective, or with another seed's generator, would
    differ in every ratio)."""
    configs = parse_study(study("muon", d=6, lr=0.02, steps=6)).runs()
    cpu, f32 = torch.device("cpu"), torch.float32
    batch = build_cell_task(Seeds(tuple(configs), batched=True), device=cpu, dtype=f32)
    observer = batch_observer(configs, batch, lambda step: True, cpu, f32)
    singles = []
    for config in configs:
        with seeded(config.seed):
            singles.append(build_task(config, device=cpu, dtype=f32))
    mirrors = [RunObserver.for_run(c.diagnostics, t, seed=c.seed, is_logged=lambda step: True) for c, t in zip(configs, singles)]
    W = batch.params[0]
    for step in range(1, 7):
        batch.optimizer.zero_grad(set_to_none=True)
        batch.loss(step)[0].backward()
        for i, task in enumerate(singles):
            task.params[0].grad = W.grad[i].clone()
            mirrors[i].before_step(step)
        observer.before_step(step)
        batch.optimizer.step()
        columns = observer.after_step(step)
        for i, task in enumerate(singles):
            with torch.no_grad():
                task.params[0].copy_(W[i])
            task.optimizer.state[task.params[0]]["momentum_buffer"] = batch.optimizer.state[W]["momentum_buffer"][i].clone()
            own = mirrors[i].after_step(step)
            assert list(own) == list(columns)
            for key, value in own.items():
                assert torch.equal(columns[key][i], value.to(torch.float64)), (step, i, key)
        # observation steps carry every column; the others only the per-row step size
        assert set(columns) == ({"step_size"} if step % 2 else
                                {"step_size", "gram_r_avg", "gram_r_min", "gram_r_max", "r_dom", "r_bulk",
                                 "r_dom_gradient", "r_bulk_gradient", "r_dom_momentum", "r_bulk_momentum"})
    for batched, mirror in zip(observer.finish(), mirrors):
        (own,) = mirror.finish()
        for key, column in own["spectrum"].items():
            np.testing.assert_array_equal(batched["spectrum"][key], column)
    # the seeds differ (own problem instances), so equality per seed is not trivial
    assert not torch.equal(columns["r_dom"][0], columns["r_dom"][1])


def test_batched_cell_with_diagnostics_equals_sequential_runs() -> None:
    """End to end in float32: the batched cell's per-seed r_dom, r_bulk and step_size
    at step 1 equal those of each seed run alone within the bound that follows from the
    update's float32 bound (:func:`tests.runner.first_step_bounds.awbt_first_step_bounds`,
    a float64 model of the first step; later steps feed the rounding back through the
    gradient, which no useful bound follows at kappa = 100 over several steps):

    - AWB-T's Hessian is constant, and its HVP (A^T A V B B^T) does not read W, so both
      modes refresh the same subspace Q from the same start vector: identical bits
      (likewise the spectrum, asserted equal);
    - each side's update u differs from the exact one by <= e_u in the Frobenius norm,
      so ||u_b - u_s||_F <= 2 e_u <= bounds["update_fro"];
    - r = ||Q^T u|| / ||u|| moves by <= 2 ||du|| / ||u|| (numerator and denominator are
      1-Lipschitz in u, r <= 1), plus each mode's own float32 rounding of the
      projection, <= 2 (d^2 + k) eps (gamma of the two inner products);
    - s = ||u|| / d moves by <= ||du|| / d (accumulated in float64: no rounding)."""
    d, lr = 8, 0.02
    diagnostics = "[diagnostics]\ndom_bulk = { k = 3, every = 1, refresh = 2 }\nstep_size = true\nspectrum = { n_probes = 2, n_steps = 8 }\n"
    configs = parse_study(study("trasmuon", d=d, lr=lr, steps=1, diagnostics=diagnostics)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched", cell.reason
    sequentials = [run(config) for config in configs]
    for i, batched in enumerate(run_batch(configs)):
        sequential, other = sequentials[i], sequentials[1 - i]
        assert list(batched.columns) == list(sequential.columns)
        du = awbt_first_step_bounds(configs[i])[0]["update_fro"]
        norm_u = sequential.columns["step_size"].astype(np.float64) * d
        bound = 2 * du / norm_u + 2 * (d * d + 3) * EPS
        for key in ("r_dom", "r_bulk"):
            gap = np.abs(batched.columns[key].astype(np.float64) - sequential.columns[key])
            assert (gap <= bound).all(), key
            # the bound is tight enough to tell the seeds apart
            assert (np.abs(batched.columns[key].astype(np.float64) - other.columns[key]) > bound).any(), key
        gap = np.abs(batched.columns["step_size"].astype(np.float64) - sequential.columns["step_size"])
        assert (gap <= du / d).all()
        for key, column in sequential.spectrum.items():
            np.testing.assert_array_equal(batched.spectrum[key], column)


class _PerRun(Diagnostic):
    name = "per_run"
    description = "a diagnostic that cannot observe a seed batch"
    batchable = False


def test_plan_names_the_diagnostics_that_cannot_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DIAGNOSTICS, "per_run", _PerRun)
    configs = parse_study(study("muon", d=4, lr=0.02, steps=2, diagnostics="[diagnostics]\nper_run = true\ngram = { every = 1 }\n")).runs()
    (cell,) = plan_cells(configs)
    assert (cell.mode, cell.reason) == ("sequential", "[diagnostics] per_run cannot observe a seed batch")
    configs = parse_study(study("muon", d=4, lr=0.02, steps=2, diagnostics="[diagnostics]\ngram = { every = 1 }\n")).runs()
    assert plan_cells(configs)[0].mode == "batched"
