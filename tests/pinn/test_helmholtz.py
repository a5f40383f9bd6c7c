"""The Helmholtz problem (SPEC 3, T eqs. 40-42): PDE consistency, loss, metrics, network, training."""

import math

import numpy as np
import pytest
import torch

from muonlab.pinn import ROI_PATCHES, Helmholtz, laplacian_autograd, mlp_forward, step_rng
from muonlab.pinn.sampling import in_patch, nonroi_points

F64 = torch.float64


def _points(n=200, seed=0):
    return torch.rand(n, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("k", [1, 2, 3.5])
def test_manufactured_solution_has_zero_residual(k):
    problem = Helmholtz(k, dtype=F64)
    x = _points()
    u, lap = laplacian_autograd(problem.u_star, x)
    r = problem.residual(x, u, lap)
    assert r.abs().max() <= 1e-10 * (math.pi * k) ** 2
    # ... while a wrong sign of kappa^2 would not vanish: the check has teeth.
    assert (lap - problem.kappa**2 * u - problem.forcing(x)).abs().max() > 1.0
    star = torch.sin(math.pi * k * x[:, 0]) * torch.sin(math.pi * k * x[:, 1])
    torch.testing.assert_close(problem.forcing(x), -((math.pi * k) ** 2) * star)


def test_loss_terms_match_an_independent_transcription():
    problem = Helmholtz(2, lambda_b=37.0, N_r=64, N_b=32, width=16, dtype=F64, laplacian="forward")
    params = list(problem.build_network(1).parameters())
    batch = problem.batch(1, 1020)
    terms = problem.loss_terms(params, batch.interior, batch.boundary)

    xi = batch.interior.detach().clone().requires_grad_(True)
    u = mlp_forward(params, xi)
    (g,) = torch.autograd.grad(u.sum(), xi, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), xi, create_graph=True)[0][:, i] for i in range(2))
    a = 2 * math.pi
    star = lambda p: torch.sin(a * p[:, 0]) * torch.sin(a * p[:, 1])  # noqa: E731
    r = lap + a**2 * u + a**2 * star(xi)
    residual = (0.5 * r**2).mean()
    boundary = (0.5 * (mlp_forward(params, batch.boundary) - star(batch.boundary)) ** 2).mean()
    torch.testing.assert_close(terms.residual, residual, rtol=1e-12, atol=0)
    torch.testing.assert_close(terms.boundary, boundary, rtol=1e-12, atol=0)
    torch.testing.assert_close(terms.loss, residual + 37.0 * boundary, rtol=1e-12, atol=0)
    grads = torch.autograd.grad(terms.loss, params)
    grads_ref = torch.autograd.grad(residual + 37.0 * boundary, params)
    for got, want in zip(grads, grads_ref):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_loss_is_the_same_for_every_laplacian():
    values = {}
    for method in ("autograd", "forward", "func"):
        problem = Helmholtz(N_r=128, N_b=32, width=16, dtype=F64, laplacian=method)
        params = list(problem.build_network(0).parameters())
        batch = problem.batch(0, 1000)
        values[method] = torch.stack(problem.loss_terms(params, batch.interior, batch.boundary))
    torch.testing.assert_close(values["forward"], values["autograd"], rtol=1e-12, atol=0)
    torch.testing.assert_close(values["func"], values["autograd"], rtol=1e-12, atol=0)


def test_loss_and_its_gradient_vmap_over_stacked_seeds():
    problem = Helmholtz(N_r=64, N_b=16, width=16, dtype=F64)
    nets = [list(problem.build_network(s).parameters()) for s in range(3)]
    stacked = [torch.stack([net[i].detach() for net in nets]) for i in range(len(nets[0]))]
    batches = [problem.batch(s, 1000) for s in range(3)]
    interior = torch.stack([b.interior for b in batches])
    boundary = torch.stack([b.boundary for b in batches])

    def loss(params, xi, xb):
        return problem.loss_terms(params, xi, xb).loss

    losses = torch.func.vmap(loss)(stacked, interior, boundary)
    grads = torch.func.vmap(torch.func.grad(loss))(stacked, interior, boundary)
    rel_l2 = torch.func.vmap(problem.global_rel_l2)(stacked)
    for s, params in enumerate(nets):
        torch.testing.assert_close(losses[s], loss(params, interior[s], boundary[s]), rtol=1e-13, atol=0)
        for got, want in zip(grads, torch.autograd.grad(loss(params, interior[s], boundary[s]), params)):
            torch.testing.assert_close(got[s], want, rtol=1e-11, atol=1e-12)
        torch.testing.assert_close(rel_l2[s], problem.global_rel_l2(params), rtol=1e-13, atol=0)


def test_metrics_match_independent_numpy_computations():
    problem = Helmholtz(2, width=16, dtype=F64)
    params = list(problem.build_network(2).parameters())
    net = lambda p: mlp_forward(params, torch.from_numpy(p)).detach().numpy()  # noqa: E731
    star = lambda p: np.sin(2 * np.pi * p[:, 0]) * np.sin(2 * np.pi * p[:, 1])  # noqa: E731
    rel = lambda p: np.linalg.norm(net(p) - star(p)) / np.linalg.norm(star(p))  # noqa: E731

    c = (np.arange(128) + 0.5) / 128
    grid = np.array([(x, y) for x in c for y in c])
    assert math.isclose(problem.global_rel_l2(params).item(), rel(grid), rel_tol=1e-12)
    # RMS of u* on the cell centres is exactly 1/2 for integer k.
    assert math.isclose(problem.u_star_rms.item(), 0.5, rel_tol=1e-12)

    step = problem.event_steps[3]
    metrics = problem.roi_metrics(params, seed=2, step=step)
    x0, x1, y0, y1 = ROI_PATCHES[problem.roi_patch(2, step)]
    c = (np.arange(64) + 0.5) / 64
    roi = np.array([(x0 + (x1 - x0) * a, y0 + (y1 - y0) * b) for a in c for b in c])
    assert math.isclose(metrics["roi_rel_l2"].item(), rel(roi), rel_tol=1e-12)
    nrmse = np.sqrt(np.mean((net(roi) - star(roi)) ** 2)) / 0.5
    assert math.isclose(metrics["roi_nrmse"].item(), nrmse, rel_tol=1e-12)
    outside = nonroi_points(step_rng(2, step, "nonroi_eval"), 4096, patch=(x0, x1, y0, y1))
    assert math.isclose(metrics["nonroi_rel_l2"].item(), rel(outside), rel_tol=1e-12)
    with pytest.raises(ValueError, match="step must be an ROI event step"):
        problem.roi_metrics(params, seed=2, step=1001)


def test_nonroi_eval_points_avoid_the_roi_and_are_common_random_numbers():
    problem = Helmholtz(width=8)
    step = problem.event_steps[0]
    points = problem.nonroi_eval_points(0, step)
    assert points.shape == (4096, 2)
    assert not in_patch(points.double().numpy(), ROI_PATCHES[problem.roi_patch(0, step)]).any()
    assert torch.equal(points, Helmholtz(k=5, N_r=3).nonroi_eval_points(0, step))
    with pytest.raises(ValueError, match="step must be an ROI event step"):
        problem.nonroi_eval_points(0, step + 1)


def test_protocol_schedule_defaults():
    problem = Helmholtz()
    assert len(problem.event_steps) == 150 and problem.event_steps[0] == 1000 and problem.event_steps[-1] == 3980
    assert problem.roi_patch(0, 999) is None and problem.roi_patch(0, 1000) is not None
    assert [t for t in range(1, 4001) if problem.is_eval_step(t)] == list(range(200, 4001, 200))


def test_network_is_seeded_xavier_and_hidden_weights_are_the_matrix_params():
    problem = Helmholtz()
    state = torch.get_rng_state()
    net = problem.build_network(7)
    assert torch.equal(state, torch.get_rng_state())  # a local generator only
    again = problem.build_network(7)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))
    assert not torch.equal(net.layers[1].weight, problem.build_network(8).layers[1].weight)

    named = list(net.named_parameters())
    assert [tuple(p.shape) for _, p in named] == [(64, 2), (64,), (64, 64), (64,), (64, 64), (64,), (1, 64), (1,)]
    two_d = [name for name, p in named if p.ndim == 2]
    assert two_d[1:-1] == ["layers.1.weight", "layers.2.weight"]  # the hybrid rule's matrix params
    hidden = torch.cat([net.layers[1].weight.flatten(), net.layers[2].weight.flatten()])
    assert abs(hidden.std().item() / math.sqrt(2 / 128) - 1) < 0.05
    assert all(not layer.bias.any() for layer in net.layers)
    assert net.layers[0].weight.dtype == torch.float32


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"k": 0}, "k"), ({"k": float("nan")}, "k"), ({"lambda_b": -1.0}, "lambda_b"),
        ({"N_r": 0}, "N_r"), ({"N_b": 1.5}, "N_b"), ({"alpha": 1.2}, "alpha"), ({"alpha": -0.1}, "alpha"),
        ({"t0": 0}, "t0"), ({"K_out": 0}, "K_out"), ({"eval_every": 0}, "eval_every"), ({"steps": True}, "steps"),
        ({"width": 0}, "width"), ({"depth": 0}, "depth"), ({"laplacian": "hessian"}, "laplacian"),
        ({"activation": "relu"}, "activation"), ({"dtype": torch.float16}, "dtype"), ({"N_nonroi": 0}, "N_nonroi"),
    ],
)
def test_invalid_settings_raise_one_line_value_errors(kwargs, field):
    with pytest.raises(ValueError, match=field) as info:
        Helmholtz(**kwargs)
    assert "\n" not in str(info.value)


def test_short_adamw_run_reduces_rel_l2():
    # k = 1 and a larger lr than the protocol's 1e-3: Adam at 1e-3 on k = 2 barely moves in
    # the first 1000 steps (SPEC 3), too slow for a test; the pipeline is the same.
    problem = Helmholtz(1, N_r=128, N_b=64, width=32, depth=2, t0=10**6)
    params = list(problem.build_network(0).parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    initial = problem.global_rel_l2(params).item()
    for step in range(1, 1001):
        batch = problem.batch(0, step)
        optimizer.zero_grad()
        problem.loss_terms(params, batch.interior, batch.boundary).loss.backward()
        optimizer.step()
    final = problem.global_rel_l2(params).item()
    assert initial > 0.5 and final < 0.2 and final < 0.25 * initial
