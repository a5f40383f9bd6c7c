"""Run observers (SPEC 4): a run with diagnostics on and off ends with bit-identical
parameters; the CSV columns hold what their definitions say."""

from __future__ import annotations

import importlib
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from muonlab import optim
from muonlab.runner import parse_study, run
from muonlab.runner.observers import momentum_of
from muonlab.toyproblems import AWBT

run_module = importlib.import_module("muonlab.runner.run")

DIAGNOSTICS = """
[diagnostics]
dom_bulk = { k = 3, every = 4, refresh = 8, vectors = ["update", "gradient", "momentum"] }
gram = { every = 4 }
step_size = true
spectrum = { n_probes = 2, n_steps = 8, grid = 64 }
"""

STUDIES = {
    # gradient-site injection: random column bursts (the stochastic part of AWB-T)
    "awbt": """
steps = 16
every = 2
[problem]
name = "awbt"
d = 6
kappa = 100.0
[injection]
K_out = 5
site = "gradient"
[[optimizers]]
name = "trasmuon"
lr = 0.01
""",
    "river_valley": """
steps = 16
every = 2
[problem]
name = "river_valley"
m = 3
n = 4
kind = "curved"
noise = "gaussian"
noise_std = 0.1
[[optimizers]]
name = "amuse"
lr = 0.01
""",
    "digits": """
steps = 12
every = 4
[problem]
name = "digits"
hidden = 8
batch_size = 16
[[optimizers]]
name = "muon"
lr = 0.05
""",
}


def run_capturing_task(config):
    """``run(config)`` and the task it trained (to read its final parameters and state)."""
    tasks = []
    original = run_module.build_cell_task

    def build(*args, **kwargs):
        tasks.append(original(*args, **kwargs))
        return tasks[-1]

    run_module.build_cell_task = build
    try:
        result = run(config)
    finally:
        run_module.build_cell_task = original
    return result, tasks[0]


@pytest.mark.parametrize("problem", list(STUDIES))
def test_diagnostics_never_change_the_trajectory(problem: str) -> None:
    config_on = parse_study(STUDIES[problem] + DIAGNOSTICS).runs()[0]
    config_off = parse_study(STUDIES[problem]).runs()[0]
    assert config_on.diagnostics.enabled and not config_off.diagnostics.enabled
    on, task_on = run_capturing_task(config_on)
    off, task_off = run_capturing_task(config_off)
    assert on.status == off.status == "done"
    for p_on, p_off in zip(task_on.params, task_off.params, strict=True):
        assert torch.equal(p_on, p_off)
    for key, column in off.columns.items():
        np.testing.assert_array_equal(on.columns[key], column)
    assert on.summary == off.summary or all(
        on.summary[k] == v or (math.isnan(on.summary[k]) and math.isnan(v)) for k, v in off.summary.items()
    )
    assert {"r_dom", "r_bulk", "r_dom_gradient", "r_dom_momentum", "gram_r_avg", "step_size"} <= set(on.columns)
    assert on.spectrum is not None and off.spectrum is None


def test_columns_follow_their_definitions() -> None:
    config = parse_study(STUDIES["awbt"] + DIAGNOSTICS).runs()[0]
    config = replace(config, dtype="float64")
    result, task = run_capturing_task(config)
    cols = result.columns
    observed = cols["step"] % 4 == 0
    for name in ("", "_gradient", "_momentum"):
        r_dom, r_bulk = cols[f"r_dom{name}"], cols[f"r_bulk{name}"]
        assert np.isnan(r_dom[~observed]).all() and np.isfinite(r_dom[observed]).all()
        np.testing.assert_allclose(r_dom[observed] ** 2 + r_bulk[observed] ** 2, 1.0, rtol=1e-10)
        assert ((r_dom[observed] >= 0) & (r_dom[observed] <= 1)).all()
    # s_t = ||theta_t - theta_{t-1}|| / sqrt(P) is the RMS of the realised update (float64
    # run; bound: 3 eps64 (|theta| + |u|) per entry, ~1e-12 relative, far inside 1e-6).
    np.testing.assert_allclose(cols["step_size"], cols["update_rms"], rtol=1e-6)
    # Column-energy trace of TrasMuon's own statistics reaches the CSV.
    assert {"r_q95", "r_max", "c_used_min"} <= set(cols)
    # Gram dominance of the final momentum (the last step is an observation step),
    # transcribed from RMNP eq. 5 in numpy.
    M = momentum_of(task.optimizer, task.params[0]).numpy()
    G = M @ M.T
    off = (np.abs(G).sum(axis=1) - np.abs(np.diag(G))) / (G.shape[0] - 1)
    r = np.diag(G) / off
    np.testing.assert_allclose([cols["gram_r_avg"][-1], cols["gram_r_min"][-1], cols["gram_r_max"][-1]],
                               [r.mean(), r.min(), r.max()], rtol=1e-9)
    # The spectrum is a density on its grid: it integrates to ~1.
    grid, density = result.spectrum["eigenvalue"], result.spectrum["density"]
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)


def test_dominant_ratio_of_the_update_against_the_analytic_awbt_subspace() -> None:
    # k = 3 closes an AWB-T multiplicity group, so Q is the analytic top-3 eigenspace and
    # r_dom of step 16's update is recomputed from the parameters after steps 15 and 16.
    # A tight Lanczos tolerance: the tracking default (1e-3) leaves Q accurate to ~1e-5.
    text = STUDIES["awbt"].replace('[injection]\nK_out = 5\nsite = "gradient"\n', "") + \
        DIAGNOSTICS.replace("k = 3,", "k = 3, tol = 1e-10,")
    config = replace(parse_study(text).runs()[0], dtype="float64")
    result, task = run_capturing_task(config)
    _, task15 = run_capturing_task(replace(config, steps=15))
    v = (task.params[0] - task15.params[0]).detach().reshape(-1)
    _, Q = AWBT(d=6, kappa=100.0, seed=config.seed, dtype=torch.float64).hessian_eigenpairs(3)
    expected = float((Q @ (Q.T @ v)).norm() / v.norm())
    assert result.columns["r_dom"][-1] == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    ("name", "key"),
    [("sgd", "momentum_buffer"), ("adamw", "exp_avg"), ("sf-adamw", None), ("muon", "momentum_buffer"),
     ("rmnp", "momentum_buffer"), ("trasmuon", "momentum_buffer"), ("amuse", "momentum_buffer")],
)
def test_momentum_state_key_per_optimizer(name: str, key: str | None) -> None:
    W = torch.nn.Parameter(torch.randn(4, 3, generator=torch.Generator().manual_seed(0)))
    opt = optim.build(name, [W])
    assert momentum_of(opt, W) is None  # before the first step there is none
    (W**2).sum().backward()
    opt.step()
    found = momentum_of(opt, W)
    assert (found is None) if key is None else (found is opt.state[W][key])


def test_momentum_inside_a_hybrid_optimizer() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    opt = optim.hybrid(model, matrix="muon", other="adamw")
    model(torch.ones(5, 3)).square().sum().backward()
    opt.step()
    assert momentum_of(opt, model[1].weight) is opt.matrix.state[model[1].weight]["momentum_buffer"]
    assert momentum_of(opt, model[0].bias) is opt.other.state[model[0].bias]["exp_avg"]
