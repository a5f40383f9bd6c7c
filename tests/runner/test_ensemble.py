"""Seed ensembles (SPEC 8, issue 7): a digits, Helmholtz or GPT cell trained as one vmapped
ensemble equals its sequential runs per seed; baselines (and the PINN's autograd
Laplacian) fall back to one run per seed and say so."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from muonlab.runner import parse_study, run
from muonlab.runner.adapters import Seeds, build_cell_task, build_task
from muonlab.runner.batched import run_batch
from muonlab.runner.cells import plan_cells

# float32 tolerance: vmap batches the matmuls and reductions of the S seeds, which may
# round differently in the last digits than the per-seed programs.
RTOL, ATOL = 1e-4, 1e-6
DIGITS = 'name = "digits"\nhidden = 16\nbatch_size = 32'
# A tiny protocol with every kind of row: eval steps, t0 - 1, and 3 ROI events (7, 10, 13).
HELMHOLTZ = ('name = "helmholtz"\nN_r = 32\nN_b = 16\nwidth = 8\nt0 = 7\nK_out = 3\neval_every = 4\n'
             'eval_grid = 8\nroi_grid = 4\nN_nonroi = 32')


def study(name: str, *, seeds: int = 3, steps: int = 25, problem: str = DIGITS) -> str:
    return (f"seeds = {seeds}\nsteps = {steps}\nevery = 2\nbatch_seeds = true\n[problem]\n{problem}\n"
            f'[[optimizers]]\nname = "{name}"\nlr = 0.02\n')


def assert_same_result(sequential, result) -> None:
    """Per seed: id, status, every logged column (loss, optimizer stats, metrics), events
    and summary (finals, spike statistics) within float32 tolerance."""
    assert (result.run_id, result.status, result.steps_done) == (sequential.run_id, "done", sequential.config.steps)
    assert list(result.columns) == list(sequential.columns)
    for key, column in sequential.columns.items():
        assert result.columns[key].dtype == column.dtype, key
        np.testing.assert_allclose(result.columns[key], column, rtol=RTOL, atol=ATOL, err_msg=key)
    assert result.events == sequential.events
    assert list(result.summary) == list(sequential.summary)
    for key, value in sequential.summary.items():
        np.testing.assert_allclose(result.summary[key], value, rtol=RTOL, atol=ATOL, err_msg=key)


@pytest.mark.parametrize("name", ["muon", "trasmuon"])
def test_digits_ensemble_equals_sequential_runs(name: str) -> None:
    configs = parse_study(study(name)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    for config, result in zip(configs, batched):
        # the hybrid's combined and per-part stats are per seed too
        assert {"update_rms", "matrix_update_rms", "other_update_rms", "test_loss", "test_acc"} <= set(result.columns)
        assert_same_result(run(config), result)
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


def test_helmholtz_ensemble_equals_sequential_runs() -> None:
    configs = parse_study(study("muon", steps=14, problem=HELMHOLTZ)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    for config, result in zip(configs, batched):
        sequential = run(config)
        assert {"step_size", "rel_l2", "roi_patch", "roi_nrmse"} <= set(result.columns)
        assert len(result.events) == 3
        assert_same_result(sequential, result)
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
def test_gpt_ensemble_equals_sequential_runs(name: str, site: str, mode: str) -> None:
    # assert_same_result's float32 bound (rtol 1e-4): vmap batches the matmuls of the
    # seeds, whose sums of <= 4 d_model = 64 products may round differently (each within
    # 64 eps_f32 ~ 4e-6 relative); over 12 steps of normalized updates that stays below
    # 1e-4 relative. Events (columns, steps) must match exactly.
    configs = parse_study(GPT_STUDY.format(name=name, site=site, mode=mode)).runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    for config, result in zip(configs, batched):
        assert {"val_loss", "val_gap", "gram_q", "gram_mlp"} <= set(result.columns)
        assert len(result.events) == 12 * 3  # 12 matrices x events at 4, 8, 12
        assert_same_result(run(config), result)
    assert not np.allclose(batched[0].columns["loss"], batched[1].columns["loss"])
    assert [e.detail for e in batched[0].events] != [e.detail for e in batched[1].events]
