"""Seed batching (SPEC 8): a batched cell equals its sequential runs per seed (float32
tolerance), divergence is per seed, unsupported cells fall back and say so."""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from muonlab import optim
from muonlab.runner import parse_study, run, run_study
from muonlab.runner.adapters import Seeds, build_cell_task, build_task
from muonlab.runner.batched import run_batch
from muonlab.runner.cells import plan_cells
from muonlab.runner.steplog import StepLog
from muonlab.runner.task import Task
from muonlab.toyproblems import awbt as awbt_module

BATCHED = ("muon", "normuon", "trasmuon", "trasmuon-noclip", "trasmuon-clip-only", "rmnp", "sf-muon", "amuse")
RTOL, ATOL = 1e-4, 1e-6
# the module (muonlab.runner.run is also the name of the function)
run_module = importlib.import_module("muonlab.runner.run")


def study_text(optimizers: str, *, problem: str = 'name = "awbt"\nd = 8\nfix_V = false', injection: str = "K_out = 7",
               seeds: int = 3, steps: int = 30, batch: bool = True) -> str:
    return (f"seeds = {seeds}\nsteps = {steps}\nevery = 1\nbatch_seeds = {str(batch).lower()}\n"
            f"[problem]\n{problem}\n" + (f"[injection]\n{injection}\n" if injection else "") + optimizers)


def entry(name: str, **hparams: float) -> str:
    return f'[[optimizers]]\nname = "{name}"\n' + "".join(f"{k} = {v!r}\n" for k, v in hparams.items())


def assert_same_result(sequential, batched, *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """Per-seed equality: id, status, rows (losses, params metrics, stats), events, summary."""
    assert batched.run_id == sequential.run_id
    assert (batched.status, batched.steps_done, batched.diverged_step) == (
        sequential.status, sequential.steps_done, sequential.diverged_step)
    assert list(batched.columns) == list(sequential.columns)
    for key, column in sequential.columns.items():
        assert batched.columns[key].dtype == column.dtype, key
        np.testing.assert_allclose(batched.columns[key], column, rtol=rtol, atol=atol, err_msg=key)
    assert batched.events == sequential.events
    assert list(batched.summary) == list(sequential.summary)
    for key, value in sequential.summary.items():
        np.testing.assert_allclose(batched.summary[key], value, rtol=rtol, atol=atol, err_msg=key)


@pytest.mark.parametrize("name", BATCHED)
@pytest.mark.parametrize("site", ["momentum", "gradient"])
def test_batched_cell_equals_sequential_runs(name: str, site: str) -> None:
    study = parse_study(study_text(entry(name, lr=0.02), injection=f'K_out = 7\nsite = "{site}"'))
    configs = study.runs()
    (cell,) = plan_cells(configs)
    assert cell.mode == "batched"
    batched = run_batch(configs)
    for config, result in zip(configs, batched):
        sequential = run(config)
        assert sequential.events and sequential.status == "done"
        assert_same_result(sequential, result)
    # the seeds really differ (own problem instance and own events)
    assert batched[0].events != batched[1].events
    assert not np.allclose(batched[0].columns["loss"], batched[1].columns["loss"])


def ns5_step_error_bound(d: int, lr: float, steps: int) -> float:
    """Bound on |W_batched - W_single| (per entry) after ``steps`` Muon-type steps of an
    (S, d, d) batch against d x d runs from the same state, when the two differ only in
    the summation order of float32 matmuls (bmm vs mm, AVX2 vs AVX-512 blocking).

    A float32 matmul of inner size d is exact to d * eps relative (gamma_d, eps = 2**-24).
    Newton-Schulz (NS5, zeropower.py) does 3 matmuls per iteration and its polynomial
    p(s) = a s + b s^3 + c s^5 has |p'(s)| <= 3.9 on the iterates' range [0, 1.2], so an
    error made in iteration k grows by <= 3.9**(5 - k): the update O (|O_ij| <= 1.2)
    differs by <= 1.2 * 3 d eps * sum_k 3.9**k, times lr. The steps add up linearly as
    long as the feedback through the next gradient is negligible, which holds only for
    a few steps on an ill-conditioned problem (kappa = 1e4: the polar factor's Jacobian
    grows like 1 / sigma_min(G)); hence the few steps this bound is used for.
    """
    per_update = 1.2 * 3 * d * 2.0**-24 * sum(3.9**k for k in range(5))
    return steps * lr * per_update


def test_batched_parameter_trajectory_equals_per_seed_tasks() -> None:
    """The (S, d, d) parameter after each of the first steps equals each seed's own run's
    W within the float32 summation-order bound above (~1e-5 per step here; a mixed-up
    seed or a wrong per-slice statistic moves W by ~lr = 2e-2)."""
    lr, d, steps = 0.02, 8, 5
    configs = parse_study(study_text(entry("trasmuon", lr=lr), steps=1)).runs()
    batch = build_cell_task(Seeds(tuple(configs), batched=True), device=torch.device("cpu"), dtype=torch.float32)
    singles = [build_task(c, device=torch.device("cpu"), dtype=torch.float32) for c in configs]
    for step in range(1, steps + 1):
        for task in (batch, *singles):
            task.optimizer.zero_grad(set_to_none=True)
            task.loss(step)[0].backward()
            task.optimizer.step()
        for i, task in enumerate(singles):
            bound = ns5_step_error_bound(d, lr, step)
            torch.testing.assert_close(batch.params[0][i], task.params[0], rtol=0, atol=bound)
            # the bound is far below what a wrong step would change
            assert bound < 0.1 * lr


def test_river_valley_with_noise_batched_equals_sequential() -> None:
    problem = 'name = "river_valley"\nm = 3\nn = 4\nkind = "curved"\nrotated = true\nnoise = "gaussian"\nnoise_std = 0.1'
    configs = parse_study(study_text(entry("normuon", lr=0.05), problem=problem, injection="K_out = 5\ns = 1")).runs()
    # The wall energy is a sum of squared small residuals: float32 rounding differences
    # of the batched matmuls show up at ~1e-4 relative after a few dozen steps.
    for config, result in zip(configs, run_batch(configs)):
        assert_same_result(run(config), result, rtol=1e-3, atol=1e-5)


def test_one_diverging_seed_leaves_the_others_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed 1's problem overflows float32 (loss inf at step 1): it is diverged at step 1
    in the batch as in its own run, and the other seeds equal their own runs."""
    original = awbt_module.AWBT.__init__

    def overflowing(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        if self.seed == 1:
            self.A = self.A * 1e30

    monkeypatch.setattr(awbt_module.AWBT, "__init__", overflowing)
    configs = parse_study(study_text(entry("muon", lr=0.02))).runs()
    batched = run_batch(configs)
    assert [r.status for r in batched] == ["done", "diverged", "done"]
    assert batched[1].diverged_step == 1 and batched[1].steps_done == 0
    for config, result in zip(configs, batched):
        assert_same_result(run(config), result)


def test_divergence_is_recorded_at_each_seeds_own_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loss that turns NaN in slice 1 from step 5 on (batched TrasMuon: per-slice
    medians, norms, schedule-free sums): slice 1 is cut at step 5 (found at the flush
    point 8), the others run on and end bit-identical to a batch without the NaN."""
    monkeypatch.setattr(run_module, "FLUSH_STEPS", 4)
    target = torch.arange(24.0).reshape(3, 2, 4) / 10

    def train(poison: bool) -> tuple[StepLog, torch.Tensor]:
        W = torch.nn.Parameter(torch.zeros(3, 2, 4))
        optimizer = optim.build("trasmuon", [W], lr=0.1, batched=True)

        def loss(step: int) -> tuple[torch.Tensor, torch.Tensor]:
            losses = 0.5 * (W - target).square().sum(dim=(1, 2))
            if poison and step >= 5:
                losses = losses * torch.tensor([1.0, float("nan"), 1.0])
            return losses.sum(), losses

        task = Task(optimizer, [W], loss)
        log = StepLog(12, 1, torch.device("cpu"), batch=3)
        run_module.train_steps(task, log, 12)
        return log, W.detach()

    log, W = train(poison=True)
    clean_log, W_clean = train(poison=False)
    assert log.diverged == [None, 5, None] and clean_log.diverged == [None, None, None]
    assert bool(torch.isnan(W[1]).all())
    torch.testing.assert_close(W[[0, 2]], W_clean[[0, 2]], rtol=0, atol=0)


def test_fallback_for_optimizers_without_batched_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = study_text(entry("sgd", lr=0.01) + entry("adamw", lr=0.01) + entry("muon", lr=0.02),
                      injection='K_out = 7\nsite = "gradient"', seeds=2, steps=12)
    study = parse_study(text)
    cells = plan_cells(study.runs())
    assert [(c.mode, c.reason) for c in cells] == [
        ("sequential", "optimizer 'sgd' has no batched mode"),
        ("sequential", "optimizer 'adamw' has no batched mode"),
        ("batched", None),
    ]
    run_study(study, tmp_path / "out", progress=False)
    note = capsys.readouterr().err
    assert "1 of 3 cells run as seed batches" in note and "optimizer 'sgd' has no batched mode" in note
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    modes = [(b["cell"]["optimizer"], b["mode"], b.get("reason")) for b in manifest["batching"]]
    assert modes == [("sgd", "sequential", "optimizer 'sgd' has no batched mode"),
                     ("adamw", "sequential", "optimizer 'adamw' has no batched mode"),
                     ("muon", "batched", None)]
    assert [r["status"] for r in manifest["runs"]] == ["done"] * 6


def read_summary(path: Path) -> list[dict[str, str]]:
    with open(path / "summary.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_study_with_batch_seeds_matches_study_without(tmp_path: Path) -> None:
    optimizers = entry("trasmuon", lr=0.01) + entry("normuon", lr=0.01) + entry("adamw", lr=0.01)
    problem = 'name = "awbt"\nd = 8\nfix_V = [true, false]'
    for batch in (True, False):
        text = study_text(optimizers, problem=problem, injection='K_out = 7\nsite = "gradient"', steps=20, batch=batch)
        run_study(parse_study(text), tmp_path / str(batch), progress=False)
    batched, sequential = read_summary(tmp_path / "True"), read_summary(tmp_path / "False")
    assert list(batched[0]) == list(sequential[0])
    assert [r["run_id"] for r in batched] == [r["run_id"] for r in sequential]
    for b, s in zip(batched, sequential):
        for key, value in s.items():
            try:
                np.testing.assert_allclose(float(b[key]), float(value), rtol=RTOL, atol=ATOL, err_msg=key)
            except ValueError:
                assert b[key] == value, key
    for row in sequential:
        b_rows = np.genfromtxt(tmp_path / "True" / "runs" / f"{row['run_id']}.csv", delimiter=",", names=True)
        s_rows = np.genfromtxt(tmp_path / "False" / "runs" / f"{row['run_id']}.csv", delimiter=",", names=True)
        assert b_rows.dtype.names == s_rows.dtype.names
        for name in s_rows.dtype.names[1:]:
            np.testing.assert_allclose(b_rows[name], s_rows[name], rtol=RTOL, atol=ATOL, err_msg=name)
    assert (tmp_path / "True" / "events.csv").read_text() == (tmp_path / "False" / "events.csv").read_text()


def test_same_batch_twice_is_bit_identical() -> None:
    configs = parse_study(study_text(entry("amuse", lr=0.02))).runs()
    first, second = run_batch(configs), run_batch(configs)
    for a, b in zip(first, second):
        for key in a.columns:
            np.testing.assert_array_equal(a.columns[key], b.columns[key])
        assert a.summary.keys() == b.summary.keys() and a.events == b.events


def test_resume_reruns_a_whole_batch_and_records_only_missing_runs(tmp_path: Path) -> None:
    """Removing one finished run of a batched cell from the manifest: --resume trains
    the cell again as the same batch and rewrites byte-identical files."""
    study = parse_study(study_text(entry("normuon", lr=0.02), seeds=3, steps=15))
    out = tmp_path / "out"
    run_study(study, out, progress=False)
    files = {p.name: p.read_bytes() for p in (out / "runs").iterdir()} | {"summary.csv": (out / "summary.csv").read_bytes()}
    manifest = json.loads((out / "manifest.json").read_text())
    lost = manifest["runs"].pop(1)["run_id"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "runs" / f"{lost}.csv").unlink()
    report = run_study(study, out, resume=True, progress=False)
    assert (report.skipped, report.statuses["done"]) == (2, 1)
    assert files == {p.name: p.read_bytes() for p in (out / "runs").iterdir()} | {"summary.csv": (out / "summary.csv").read_bytes()}
