"""Seed batching (SPEC 8): a batched cell equals its sequential runs per seed (float32
tolerance), divergence is per seed, unsupported cells fall back and say so."""

from __future__ import annotations

import csv
import importlib
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from muonlab import optim
from muonlab.runner import parse_study, run, run_study
from muonlab.runner.adapters import Seeds, build_cell_task, build_task
from muonlab.runner.batched import run_batch
from muonlab.runner.cells import plan_cells
from muonlab.runner.spikes import spike_statistics
from muonlab.runner.steplog import StepLog
from muonlab.runner.task import EventRecord, Task
from muonlab.toyproblems import awbt as awbt_module
from muonlab.toyproblems.river_valley import RiverValley
from tests.runner.first_step_bounds import EXACT_AT_STEP_1, awbt_first_step_bounds, awbt_problem, trasmuon_warmup_step_bound
from tests.toyproblems.test_river_valley import _float32_evaluation_bounds as river_valley_bounds

BATCHED = ("muon", "normuon", "trasmuon", "trasmuon-noclip", "trasmuon-clip-only", "rmnp", "sf-muon", "amuse")
# the module (muonlab.runner.run is also the name of the function)
run_module = importlib.import_module("muonlab.runner.run")
# Schedule-free methods report their finals at the x sequence (eval mode), not at the
# logged y: their final metrics are not the last logged row's.
SCHEDULE_FREE = ("sf-muon", "amuse")


def study_text(optimizers: str, *, problem: str = 'name = "awbt"\nd = 8\nfix_V = false', injection: str = "K_out = 7",
               seeds: int = 3, steps: int = 30, batch: bool = True) -> str:
    return (f"seeds = {seeds}\nsteps = {steps}\nevery = 1\nbatch_seeds = {str(batch).lower()}\n"
            f"[problem]\n{problem}\n" + (f"[injection]\n{injection}\n" if injection else "") + optimizers)


def entry(name: str, **hparams: float) -> str:
    return f'[[optimizers]]\nname = "{name}"\n' + "".join(f"{k} = {v!r}\n" for k, v in hparams.items())


def assert_own_summary(result, config) -> None:
    """The summary of one side from its own logged losses (every = 1, so the loss column
    is the run's whole loss series): spike statistics by the same rule, best and final
    loss, and (not schedule-free) the finals equal the last logged metrics. Exact: this
    tests the wiring without needing two float32 trajectories to agree."""
    steps = result.columns["step"]
    np.testing.assert_array_equal(steps, np.arange(1, len(steps) + 1))
    finite = steps < result.diverged_step if result.diverged_step is not None else np.ones(len(steps), bool)
    losses = result.columns["loss"][finite].astype(np.float64)
    own = spike_statistics(losses, sorted({e.step for e in result.events if e.step <= losses.size}), dict(config.spikes))
    for key, value in own.items():
        np.testing.assert_equal(result.summary[key], value, err_msg=key)
    np.testing.assert_equal(result.summary["best_loss"], losses.min() if losses.size else np.nan)
    if result.status == "done":
        assert result.summary["final_loss"] == losses[-1]
        if config.optimizer not in SCHEDULE_FREE:
            for key in result.summary:
                if key.startswith("final_") and key[len("final_"):] in result.columns:
                    assert result.summary[key] == result.columns[key[len("final_"):]][-1], key


def assert_first_row_within(sequential, batched, bounds: dict[str, float], model: dict[str, float] | None) -> None:
    """Step 1's row: every continuous column within its float32 bound (first_step_bounds.py:
    both sides start from the same state, so only one gradient evaluation and one
    optimizer step round differently), and each side within half of it of the float64
    model of that step when one is given (a wrong lr on both sides fails too)."""
    for key, bound in bounds.items():
        s, b = float(sequential.columns[key][0]), float(batched.columns[key][0])
        assert abs(b - s) <= bound, (key, b, s, bound)
        if model is not None:
            assert abs(s - model[key]) <= bound / 2 and abs(b - model[key]) <= bound / 2, (key, s, b, model[key], bound)


def assert_same_result(sequential, batched, config, *, first_step: tuple[dict, dict | None] | None = None) -> None:
    """Per-seed equality of a batched run with its sequential run.

    Exact over the whole run: id, status, steps, which rows exist (step and event
    columns, the NaN pattern of every column), events, summary keys and each side's
    summary from its own losses (assert_own_summary). Continuous values only at step 1,
    within the bound of ``first_step = (bounds, model)``; the columns that are the same by
    construction there (first_step_bounds.EXACT_AT_STEP_1) exactly. After step 1 the two
    float32 trajectories feed their rounding back through the gradient (kappa = 1e4), so
    they are not compared: no useful bound holds (see docs/reproducibility.md)."""
    assert batched.run_id == sequential.run_id
    assert (batched.status, batched.steps_done, batched.diverged_step) == (
        sequential.status, sequential.steps_done, sequential.diverged_step)
    assert list(batched.columns) == list(sequential.columns)
    for key, column in sequential.columns.items():
        assert batched.columns[key].dtype == column.dtype, key
        if column.dtype.kind in "iu":
            np.testing.assert_array_equal(batched.columns[key], column, err_msg=key)
        else:
            np.testing.assert_array_equal(np.isnan(batched.columns[key]), np.isnan(column), err_msg=key)
    assert batched.events == sequential.events
    assert list(batched.summary) == list(sequential.summary)
    for result in (sequential, batched):
        assert_own_summary(result, config)
    if first_step is not None and sequential.steps_done >= 1:
        bounds, model = first_step
        for key in EXACT_AT_STEP_1:
            if key in sequential.columns:
                np.testing.assert_array_equal(batched.columns[key][:1], sequential.columns[key][:1], err_msg=key)
        assert_first_row_within(sequential, batched, bounds, model)


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
        bounds, model = awbt_first_step_bounds(config)
        # every continuous column has a step-1 bound, and it is well below what a wrong
        # step changes: < 3% of the update's size (an lr off by 3% fails), < 1/4 of one
        # step's move of the loss and of rel_dist (sf-muon / amuse: lr / T0 at step 1)
        continuous = {k for k, v in sequential.columns.items() if v.dtype.kind == "f"} - set(EXACT_AT_STEP_1)
        assert continuous == set(bounds)
        assert bounds["update_fro"] < 0.03 * model["update_fro"]
        for key in ("loss", "rel_dist"):
            assert bounds[key] < 0.25 * abs(sequential.columns[key][1] - sequential.columns[key][0])
        assert_same_result(sequential, result, config, first_step=(bounds, model))
    # the seeds really differ (own problem instance and own events)
    assert batched[0].events != batched[1].events
    assert not np.allclose(batched[0].columns["loss"], batched[1].columns["loss"])


def test_batched_parameter_trajectory_equals_per_seed_tasks() -> None:
    """The (S, d, d) parameter after each of the first steps equals each seed's own task's
    W within a derived float32 bound, teacher-forced: after each comparison every single
    task takes its batch slice's parameter and optimizer state, so each step starts from
    the same state on both sides and they differ only by that step's rounding (no
    feedback through the gradient, which no useful bound survives at kappa = 1e4; see
    first_step_bounds.trasmuon_warmup_step_bound). A mixed-up seed, a wrong per-slice
    statistic or lr at any of these steps moves W by far more than the bound (asserted:
    < 3% of the step)."""
    lr, steps = 0.02, 5
    configs = parse_study(study_text(entry("trasmuon", lr=lr), steps=1)).runs()
    batch = build_cell_task(Seeds(tuple(configs), batched=True), device=torch.device("cpu"), dtype=torch.float32)
    singles = [build_task(c, device=torch.device("cpu"), dtype=torch.float32) for c in configs]
    problems = [awbt_problem(c) for c in configs]
    Wb = batch.params[0]
    for step in range(1, steps + 1):
        bounds = []
        for task, problem in zip(singles, problems):
            (W,) = task.params
            bounds.append(trasmuon_warmup_step_bound(problem, W.detach(), task.optimizer.state[W], task.optimizer.param_groups[0]))
        for task in (batch, *singles):
            task.optimizer.zero_grad(set_to_none=True)
            task.loss(step)[0].backward()
            task.optimizer.step()
        for i, (task, (bound, move)) in enumerate(zip(singles, bounds)):
            (W,) = task.params
            assert bound < 0.03 * move
            assert (Wb[i] - W).detach().double().norm().item() <= bound
            with torch.no_grad():  # teacher forcing: the single task continues from the slice's state
                W.copy_(Wb[i])
                for key, value in batch.optimizer.state[Wb].items():
                    task.optimizer.state[W][key] = value[i].clone() if isinstance(value, torch.Tensor) else value


def test_river_valley_with_noise_batched_equals_sequential() -> None:
    problem = 'name = "river_valley"\nm = 3\nn = 4\nkind = "curved"\nrotated = true\nnoise = "gaussian"\nnoise_std = 0.1'
    configs = parse_study(study_text(entry("normuon", lr=0.05), problem=problem, injection="K_out = 5\ns = 1")).runs()
    # Step 1's loss at W0 = 0 differs only by the evaluation's rounding (h8's bound in
    # tests/toyproblems/test_river_valley.py, twice one side's); the step's statistics
    # have no first-step model here (NorMuon on the river valley), so only the loss is
    # compared continuously, the rest exactly (assert_same_result).
    for config, result in zip(configs, run_batch(configs)):
        rv = RiverValley(**dict(config.settings), seed=config.seed)
        bound = river_valley_bounds(rv, rv.W0)["loss"]
        sequential = run(config)
        assert bound < 0.01 * abs(sequential.columns["loss"][1] - sequential.columns["loss"][0])  # << one step's move
        assert_same_result(sequential, result, config, first_step=({"loss": bound}, None))


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
        first_step = awbt_first_step_bounds(config) if result.steps_done else None
        assert_same_result(run(config), result, config, first_step=first_step)


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


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_study(out: Path) -> dict[str, SimpleNamespace]:
    """Each run of a study directory as written (summary.csv row, runs/<id>.csv columns
    parsed back to their float32 / int values, events.csv rows), in the shape of a
    RunResult for assert_same_result."""
    events = read_csv(out / "events.csv")
    runs = {}
    for row in read_csv(out / "summary.csv"):
        rows = read_csv(out / "runs" / f"{row['run_id']}.csv")
        columns = {key: np.array([r[key] for r in rows], dtype=np.int64 if key in ("step", "event") else np.float32)
                   for key in rows[0] if key != "run_id"}
        first = list(row).index("diverged_step") + 1
        summary = {key: float(np.float32(v)) if key.startswith("final_") or key == "best_loss" else float(v)
                   for key, v in list(row.items())[first:]}
        runs[row["run_id"]] = SimpleNamespace(
            run_id=row["run_id"], status=row["status"], steps_done=int(row["steps_done"]),
            diverged_step=int(row["diverged_step"]) if row["diverged_step"] else None,
            columns=columns, summary=summary, fields={k: row[k] for k in list(row)[:first]},
            events=tuple(EventRecord(int(e["step"]), e["kind"], e["detail"]) for e in events if e["run_id"] == row["run_id"]))
    return runs


def test_study_with_batch_seeds_matches_study_without(tmp_path: Path) -> None:
    """The files of a study with batch_seeds equal those without, per run: as
    assert_same_result (exact structure and events, each summary from its own logged
    losses, step 1 within its float32 bound); the sequential adamw cells bit for bit."""
    optimizers = entry("trasmuon", lr=0.01) + entry("normuon", lr=0.01) + entry("adamw", lr=0.01)
    problem = 'name = "awbt"\nd = 8\nfix_V = [true, false]'
    for batch in (True, False):
        text = study_text(optimizers, problem=problem, injection='K_out = 7\nsite = "gradient"', steps=20, batch=batch)
        run_study(parse_study(text), tmp_path / str(batch), progress=False)
    batched, sequential = read_study(tmp_path / "True"), read_study(tmp_path / "False")
    assert list(batched) == list(sequential)
    for config in parse_study(text).runs():
        b, s = batched[config.run_id], sequential[config.run_id]
        assert b.fields == s.fields
        if config.optimizer == "adamw":  # no batched mode: the same sequential run both times
            for key in s.columns:
                np.testing.assert_array_equal(b.columns[key], s.columns[key], err_msg=key)
            np.testing.assert_equal(b.summary, s.summary)
        else:
            assert_same_result(s, b, config, first_step=awbt_first_step_bounds(config))
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
