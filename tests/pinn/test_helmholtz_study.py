"""The ``helmholtz`` study end to end: runner task, CLI, files, plots (SPEC 3-6)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from muonlab.cli import main
from muonlab.pinn import ROI_PATCHES, roi_patch_for_step
from muonlab.runner import ConfigError, parse_study, run, run_study
from muonlab.runner.adapters import build_task

T0, K_OUT, STEPS, EVAL_EVERY = 16, 4, 30, 10
EPS32 = 2.0**-24

TINY = f"""
name = "tiny_pinn"
seeds = 2
steps = {STEPS}
every = 1
[problem]
name = "helmholtz"
N_r = 32
N_b = 16
width = 8
t0 = {T0}
K_out = {K_OUT}
eval_every = {EVAL_EVERY}
eval_grid = 8
roi_grid = 4
N_nonroi = 32
{{roi}}
[[optimizers]]
name = "muon"
lr = [0.01, 0.02]
[[optimizers]]
name = "trasmuon"
lr = 1.25e-3
[[optimizers]]
name = "adamw"
lr = 1e-2
"""

EVENT_STEPS = list(range(T0, STEPS, K_OUT))
ROI_COLUMNS = ("roi_patch", "roi_rel_l2", "roi_nrmse", "nonroi_rel_l2")


def _run(tmp_path: Path, name: str, roi: str = "") -> Path:
    """The tiny study in ``tmp_path/name`` by ``run_study`` (no table, no plots)."""
    out = tmp_path / name
    run_study(parse_study(TINY.format(roi=roi)), out, progress=False)
    return out


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny study through the CLI (``muonlab run`` also writes the table and plots)."""
    tmp = tmp_path_factory.mktemp("pinn")
    (tmp / "tiny.toml").write_text(TINY.format(roi=""))
    assert main(["run", str(tmp / "tiny.toml"), "--out", str(tmp / "roi"), "--no-progress"]) == 0
    return tmp / "roi"


def _runs(out: Path) -> dict[str, pd.DataFrame]:
    summary = pd.read_csv(out / "summary.csv", dtype={"run_id": str})
    return {rid: pd.read_csv(out / "runs" / f"{rid}.csv", dtype={"run_id": str}) for rid in summary["run_id"]}


def test_rows_metrics_and_roi_events(study_dir: Path) -> None:
    summary = pd.read_csv(study_dir / "summary.csv", dtype={"run_id": str})
    events = pd.read_csv(study_dir / "events.csv", dtype={"run_id": str})
    assert len(summary) == 8 and (summary["status"] == "done").all()
    configs = {c.run_id: c for c in parse_study(TINY.format(roi="")).runs()}
    for rid, rows in _runs(study_dir).items():
        seed = int(summary.loc[summary["run_id"] == rid, "seed"].iloc[0])
        rows = rows.sort_values("step")
        rows = rows.set_index("step")
        for column in ("residual", "boundary", "step_size", "rel_l2", *ROI_COLUMNS):
            assert column in rows.columns, column
        # rel-L2 exactly at eval steps, at t0 - 1 and at the last step.
        assert sorted(rows.index[rows["rel_l2"].notna()]) == [10, T0 - 1, 20, 30]
        # ROI metrics exactly at the ROI events, with the blake2b patch of (seed, step).
        at_events = rows.loc[rows["roi_patch"].notna()]
        assert list(at_events.index) == EVENT_STEPS
        assert list(at_events["roi_patch"].astype(int)) == [roi_patch_for_step(seed, e) for e in EVENT_STEPS]
        assert at_events[list(ROI_COLUMNS[1:])].gt(0).all().all()
        assert rows["event"].sum() == len(EVENT_STEPS)
        mine = events[events["run_id"] == rid]
        assert list(mine["step"]) == EVENT_STEPS and set(mine["kind"]) == {"roi"}
        x0, x1, y0, y1 = ROI_PATCHES[roi_patch_for_step(seed, T0)]
        assert mine["detail"].iloc[0] == f"patch {roi_patch_for_step(seed, T0)} [{x0:.2f},{x1:.2f}]x[{y0:.2f},{y1:.2f}]"
        # Logged values are float32 numbers written as their shortest text: np.float32 of
        # the parsed text is that number again, so these comparisons are exact.
        f32 = {c: rows[c].to_numpy(np.float64).astype(np.float32) for c in ("loss", "residual", "boundary", "step_size",
                                                                            "update_rms", "rel_l2")}
        # The weighted loss is residual + lambda_b * boundary (eq. T-40), logged unweighted:
        # the same float32 operations on the logged terms give the logged loss bit for bit.
        np.testing.assert_array_equal(f32["loss"], f32["residual"] + np.float32(100.0) * f32["boundary"])
        # s_t = ||dtheta|| / sqrt(P) is the RMS of the realised update: without weight decay
        # it equals the optimizer's own update_rms (hybrid: over both parts), up to the
        # rounding of theta - u (<= 3 eps32 (|theta| + |u|) per entry: the decay product,
        # the product and the sum), update_rms's float32 norm ((P / 2 + 4) eps32) and s_t's
        # cast to float32; rms(theta_{t-1}) <= rms(theta_0) + sum of the earlier s.
        theta0 = torch.cat([p.detach().double().reshape(-1) for p in build_task(configs[rid], device=torch.device("cpu"),
                                                                                    dtype=torch.float32).params])
        P = theta0.numel()
        s, u = f32["step_size"].astype(np.float64), f32["update_rms"].astype(np.float64)
        theta_rms = theta0.square().mean().sqrt().item() + np.concatenate([[0.0], np.cumsum(s)[:-1]])
        bound = EPS32 * (3 * (theta_rms + u) + (P / 2 + 4) * u + s)
        assert (np.abs(s - u) <= bound).all()
        assert (bound < 0.01 * u).all()  # a wrong step (or any weight decay) still fails
        row = summary.loc[summary["run_id"] == rid].iloc[0]
        # the summary's median is of the float64 s_t, the rows hold them rounded to float32
        # (<= eps32 relative each; the median is monotone, so <= eps32 |median|, which is
        # < 2 eps32 relative to the rounded values' median)
        assert row["step_size_median"] == pytest.approx(np.median(f32["step_size"][: T0 - 1].astype(np.float64)),
                                                        rel=2 * EPS32, abs=0)
        assert np.float32(row["rel_l2_t0"]) == f32["rel_l2"][T0 - 2]
        assert np.float32(row["final_rel_l2"]) == f32["rel_l2"][STEPS - 1]


def test_spike_rule_rho_3(study_dir: Path) -> None:
    assert dict(parse_study(TINY.format(roi="")).spikes)["rho"] == 3.0
    assert '"rho": 3.0' in json.dumps(json.loads((study_dir / "manifest.json").read_text())["spike_rule"])


def test_without_roi_events(tmp_path: Path) -> None:
    out = _run(tmp_path, "noroi", roi="roi = false")
    assert len(pd.read_csv(out / "events.csv")) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert summary["rel_l2_t0"].notna().all() and summary["step_size_median"].gt(0).all()
    for rows in _runs(out).values():
        assert rows["roi_patch"].isna().all() if "roi_patch" in rows else True
        assert rows["event"].sum() == 0


def test_common_random_numbers_across_optimizers() -> None:
    """At the same (seed, step) every optimizer's task evaluates its (identical) initial
    network on identical points, so the losses agree bit for bit; another seed differs."""
    runs = parse_study(TINY.format(roi="")).runs()
    by_key = {(r.optimizer, r.seed, dict(r.hparams)["lr"]): r for r in runs}
    configs = [by_key[("muon", 0, 0.02)], by_key[("trasmuon", 0, 1.25e-3)], by_key[("adamw", 0, 1e-2)]]
    tasks = [build_task(c, device=torch.device("cpu"), dtype=torch.float32) for c in configs]
    for step in (1, T0, T0 + K_OUT, 17):
        losses = [task.loss(step)[0].item() for task in tasks]
        assert losses[0] == losses[1] == losses[2]
    other = build_task(by_key[("muon", 1, 0.02)], device=torch.device("cpu"), dtype=torch.float32)
    assert other.loss(T0)[0].item() != tasks[0].loss(T0)[0].item()


def test_hybrid_split() -> None:
    runs = {r.optimizer: r for r in parse_study(TINY.format(roi="")).runs()}
    task = build_task(runs["trasmuon"], device=torch.device("cpu"), dtype=torch.float32)
    matrix = [p for g in task.optimizer.matrix.param_groups for p in g["params"]]
    other = [p for g in task.optimizer.other.param_groups for p in g["params"]]
    assert [tuple(p.shape) for p in matrix] == [(8, 8), (8, 8)]
    assert len(other) == len(task.params) - 2
    assert {g["lr"] for g in task.optimizer.other.param_groups} == {3e-3}
    baseline = build_task(runs["adamw"], device=torch.device("cpu"), dtype=torch.float32)
    assert isinstance(baseline.optimizer, torch.optim.AdamW)
    assert sum(len(g["params"]) for g in baseline.optimizer.param_groups) == len(baseline.params)


def test_deterministic_bytes(study_dir: Path, tmp_path: Path) -> None:
    again = _run(tmp_path, "roi")
    assert (again / "summary.csv").read_bytes() == (study_dir / "summary.csv").read_bytes()
    assert (again / "events.csv").read_bytes() == (study_dir / "events.csv").read_bytes()
    for path in sorted((study_dir / "runs").glob("*.csv")):
        assert (again / "runs" / path.name).read_bytes() == path.read_bytes()


def test_plots_written(study_dir: Path) -> None:
    """``muonlab run`` drew the PINN plots (the same ``plot_study`` as ``muonlab plot``)."""
    names = {p.name for p in (study_dir / "plots").glob("*.png")}
    assert names == {"pinn_training.png", "pinn_distributions.png", "pinn_step_size.png", "pinn_lr_sensitivity.png"}
    assert all((study_dir / "plots" / n).stat().st_size > 10_000 for n in names)


@pytest.mark.parametrize(
    ("key", "value"),
    [("alpha", "1.5"), ("laplacian", '"hessian"'), ("other_lr", "0"), ("roi", "1")],
)
def test_invalid_settings(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"problem.{key}"):
        parse_study(TINY.format(roi=f"{key} = {value}"))


def test_rel_l2_t0_nan_without_window() -> None:
    """t0 = 1 leaves no stationary window: no median, no rel-L2 at t0."""
    config = parse_study(TINY.format(roi="roi = false").replace(f"t0 = {T0}", "t0 = 1")).runs()[0]
    result = run(config)
    assert math.isnan(result.summary["rel_l2_t0"]) and math.isnan(result.summary["step_size_median"])


def test_hessian_diagnostics_on_a_pinn(tmp_path: Path) -> None:
    """dom_bulk and spectrum need the task's functional loss (a fixed collocation batch)."""
    study = tmp_path / "diag.toml"
    study.write_text(
        'seeds = 1\nsteps = 32\nevery = 16\n[problem]\nname = "helmholtz"\nt0 = 20\nK_out = 5\n'
        "N_r = 64\nN_b = 32\nwidth = 16\neval_every = 16\neval_grid = 16\nroi_grid = 8\nN_nonroi = 64\n"
        "[diagnostics]\ndom_bulk = { k = 3, every = 16, refresh = 16 }\n"
        "spectrum = { n_probes = 2, n_steps = 10, grid = 50 }\n"
        '[[optimizers]]\nname = "muon"\n'
    )
    out = tmp_path / "out"
    assert main(["run", str(study), "--out", str(out), "--no-progress"]) == 0
    (entry,) = json.loads((out / "manifest.json").read_text())["runs"]
    assert entry["status"] == "done"
    rows = pd.read_csv(out / "runs" / f"{entry['run_id']}.csv")
    observed = rows[rows["step"] % 16 == 0]
    # In a float32 run r_dom = ||Q^T v|| / ||v|| and r_bulk = ||v - Q Q^T v|| / ||v|| are
    # computed in float32 with Q from float32 Lanczos (P parameters, k = 3 columns):
    # r_dom^2 + r_bulk^2 = 1 + w^T (Q^T Q - I) w / ||v||^2 (w = Q^T v), so it is off by
    # <= ||Q^T Q - I|| r_dom^2 (reorthogonalized Lanczos: <= k P eps32, an assumption)
    # plus the products', sums' and norms' rounding, <= 2 (P + k + 4) eps32 each way, and
    # the float32 rows' rounding (2 eps32).
    task = build_task(parse_study(study.read_text()).runs()[0], device=torch.device("cpu"), dtype=torch.float32)
    P, k = sum(p.numel() for p in task.params), 3
    r_dom, r_bulk = (observed[c].to_numpy(np.float64).astype(np.float32).astype(np.float64) for c in ("r_dom", "r_bulk"))
    assert (np.abs(r_dom**2 + r_bulk**2 - 1.0) <= (k * P + 2 * (P + k + 4) + 2) * EPS32).all()
    assert (out / "runs" / f"{entry['run_id']}.spectrum.csv").exists()
