"""Seed ensembles (SPEC 8, issue 7): a digits, Helmholtz or GPT cell trained as one vmapped
ensemble equals its sequential runs per seed; baselines (and the PINN's autograd
Laplacian) fall back to one run per seed and say so."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from muonlab.runner import parse_study, run
from muonlab.runner.adapters import Seeds, build_cell_task, build_task
from muonlab.runner.batched import run_batch
from muonlab.runner.cells import plan_cells
from muonlab.runner.spikes import spike_statistics
from muonlab.toyproblems import DigitsMLP
from tests.toyproblems.test_digits import _float32_loss_bound as digits_float32_loss_bound

# the module (muonlab.runner.run is also the name of the function)
run_module = importlib.import_module("muonlab.runner.run")

DIGITS = 'name = "digits"\nhidden = 16\nbatch_size = 32'
# A tiny protocol with every kind of row: eval steps, t0 - 1, and 3 ROI events (7, 10, 13).
HELMHOLTZ = ('name = "helmholtz"\nN_r = 32\nN_b = 16\nwidth = 8\nt0 = 7\nK_out = 3\neval_every = 4\n'
             'eval_grid = 8\nroi_grid = 4\nN_nonroi = 32')


def study(name: str, *, seeds: int = 3, steps: int = 25, problem: str = DIGITS) -> str:
    return (f"seeds = {seeds}\nsteps = {steps}\nevery = 2\nbatch_seeds = true\n[problem]\n{problem}\n"
            f'[[optimizers]]\nname = "{name}"\nlr = 0.02\n')


@pytest.fixture
def loss_series(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The whole loss series of every run assembled while the test runs (in call order:
    run_batch's seeds in order, then each run()): what the run's spike statistics, best
    and final loss are computed from (the logged rows hold every second step only)."""
    seen: list[np.ndarray] = []

    def recording(losses, event_steps, rule):
        seen.append(np.array(losses, copy=True))
        return spike_statistics(losses, event_steps, rule)

    monkeypatch.setattr(run_module, "spike_statistics", recording)
    return seen


def assert_same_result(sequential, result, seq_losses: np.ndarray, losses: np.ndarray, *,
                       loss1_bound: float | None = None) -> None:
    """Per seed, a vmapped ensemble run equals its sequential run.

    Exact over the whole run: id, status, steps, which rows exist (step and event
    columns, the NaN pattern of every column), events, summary keys, and each side's
    summary from its own loss series (spike statistics by the same rule, best and final
    loss; the finals that are a logged metric's last value equal it). The float32
    trajectories are not compared after step 1: vmap sums in another order and the
    rounding feeds back through every later gradient, where no useful bound holds
    (docs/reproducibility.md). Step 1's loss, at the seed's own initial parameters on
    both sides (test_ensemble_starts_from_each_seeds_own_init_and_split), within
    ``loss1_bound`` when one is derived for the problem.
    """
    assert (result.run_id, result.status, result.steps_done) == (sequential.run_id, "done", sequential.config.steps)
    assert list(result.columns) == list(sequential.columns)
    for key, column in sequential.columns.items():
        assert result.columns[key].dtype == column.dtype, key
        if column.dtype.kind in "iu":
            np.testing.assert_array_equal(result.columns[key], column, err_msg=key)
        else:
            np.testing.assert_array_equal(np.isnan(result.columns[key]), np.isnan(column), err_msg=key)
    assert result.events == sequential.events
    assert list(result.summary) == list(sequential.summary)
    event_steps = sorted({e.step for e in sequential.events})
    for side, series in ((sequential, seq_losses), (result, losses)):
        assert series.shape == (side.config.steps,)
        # the logged loss rows are the series' values at those steps
        np.testing.assert_array_equal(side.columns["loss"], series[side.columns["step"] - 1].astype(np.float32))
        own = spike_statistics(series, event_steps, dict(side.config.spikes))
        for key, value in own.items():
            np.testing.assert_equal(side.summary[key], value, err_msg=key)
        assert side.summary["final_loss"] == series[-1] and side.summary["best_loss"] == series.min()
        for key in side.summary:
            metric = key[len("final_"):]
            if key.startswith("final_") and metric in side.columns and not np.isnan(side.columns[metric][-1]):
                assert side.summary[key] == side.columns[metric][-1], key
    if loss1_bound is not None:
        assert abs(losses[0] - seq_losses[0]) <= loss1_bound


def digits_loss1_bound(config) -> float:
    """Step 1's mini-batch cross-entropy at the seed's initial parameters: the two sides
    differ only in summation order (h8's bound, tests/toyproblems/test_digits.py)."""
    return digits_float32_loss_bound(DigitsMLP(seed=config.seed, **dict(config.settings)), 1)


@pytest.mark.parametrize("name", ["muon", "trasmuon"])
def test_digits_ensemble_equals_sequential_runs(name: str, loss_series: list[np.ndarray]) -> None:
    configs = parse_study(study(name)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    batch_losses = loss_series[:]
    for i, (config, result) in enumerate(zip(configs, batched)):
        # the hybrid's combined and per-part stats are per seed too
        assert {"update_rms", "matrix_update_rms", "other_update_rms", "test_loss", "test_acc"} <= set(result.columns)
        sequential = run(config)
        bound = digits_loss1_bound(config)
        # well below the seeds' differences (own init, split and batch), so a seed's
        # slice mixed up with another's fails
        assert bound < 0.25 * min(abs(batch_losses[i][0] - other[0]) for other in batch_losses if other is not batch_losses[i])
        assert_same_result(sequential, result, loss_series[-1], batch_losses[i], loss1_bound=bound)
    # the seeds really differ (own split, init and batches)
    assert not np.allclose(batched[0].columns["loss"], batched[1].columns["loss"])


def test_ensemble_starts_from_each_seeds_own_init_and_split() -> None:
    """Slice i of every stacked parameter is seed i's unbatched initial parameter, and the
    matrix optimizer holds exactly the hidden weight, as (S, h, h), in batched mode."""
    configs = parse_study(study("muon", steps=1)).runs()
    batch = build_cell_task(Seeds(tuple(configs), batched=True), device=torch.device("cpu"), dtype=torch.float32)
    singles = [build_task(c, device=torch.device("cpu"), dtype=torch.float32) for c in configs]
    for i, single in enumerate(singles):
        assert len(batch.params) == len(single.params)
        for stacked, own in zip(batch.params, single.params):
            assert torch.equal(stacked[i], own)
    (hidden,) = [p for g in batch.optimizer.matrix.param_groups for p in g["params"]]
    assert hidden.shape == (len(configs), 16, 16) and batch.optimizer.matrix.batched
    (single_hidden,) = [p for g in singles[0].optimizer.matrix.param_groups for p in g["params"]]
    assert torch.equal(hidden[0], single_hidden)


def test_digits_baselines_fall_back_and_say_so() -> None:
    (cell,) = plan_cells(parse_study(study("adamw")).runs())
    assert cell.mode == "sequential" and cell.reason == "optimizer 'adamw' has no batched mode"


def test_helmholtz_ensemble_equals_sequential_runs(loss_series: list[np.ndarray]) -> None:
    configs = parse_study(study("muon", steps=14, problem=HELMHOLTZ)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    batch_losses = loss_series[:]
    for i, (config, result) in enumerate(zip(configs, batched)):
        sequential = run(config)
        assert {"step_size", "rel_l2", "roi_patch", "roi_nrmse"} <= set(result.columns)
        assert len(result.events) == 3
        assert_same_result(sequential, result, loss_series[-1], batch_losses[i])
    # each seed its own ROI patches
    assert [e.detail for e in batched[0].events] != [e.detail for e in batched[1].events]


@pytest.mark.parametrize(("name", "laplacian", "reason"), [
    ("adamw", "forward", "optimizer 'adamw' has no batched mode"),
    ("muon", "autograd", "helmholtz laplacian 'autograd' does not run under vmap"),
])
def test_helmholtz_fallbacks_say_why(name: str, laplacian: str, reason: str) -> None:
    problem = HELMHOLTZ + f'\nlaplacian = "{laplacian}"'
    (cell,) = plan_cells(parse_study(study(name, steps=14, problem=problem)).runs())
    assert (cell.mode, cell.reason) == ("sequential", reason)


GPT_STUDY = """
seeds = 2
steps = 12
every = 2
batch_seeds = true
[problem]
name = "gpt"
vocab = 8
order = 2
support = 3
d_model = 16
n_heads = 2
context = 8
batch_size = 4
eval_every = 6
[injection]
K_out = 4
s = 2
site = "{site}"
mode = "{mode}"
rho = 20.0
[[optimizers]]
name = "{name}"
lr = 0.01
"""


@pytest.mark.parametrize("name, site, mode", [
    ("muon", "gradient", "additive"), ("trasmuon", "gradient", "additive"), ("normuon", "momentum", "multiplicative"),
])
def test_gpt_ensemble_equals_sequential_runs(name: str, site: str, mode: str, loss_series: list[np.ndarray]) -> None:
    # assert_same_result: structure, events and each side's summary exactly; the float32
    # values are not compared across sides (see its docstring).
    configs = parse_study(GPT_STUDY.format(name=name, site=site, mode=mode)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    batch_losses = loss_series[:]
    for i, (config, result) in enumerate(zip(configs, batched)):
        assert {"val_loss", "val_gap", "gram_q", "gram_mlp"} <= set(result.columns)
        assert len(result.events) == 12 * 3  # 12 matrices x events at 4, 8, 12
        sequential = run(config)
        assert_same_result(sequential, result, loss_series[-1], batch_losses[i])
    assert not np.allclose(batched[0].columns["loss"], batched[1].columns["loss"])
    assert [e.detail for e in batched[0].events] != [e.detail for e in batched[1].events]
