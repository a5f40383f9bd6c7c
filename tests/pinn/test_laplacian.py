"""Exact batched Laplacians (SPEC 3): closed forms, and every implementation vs the reference."""

import math

import pytest
import torch

from muonlab.pinn import MLP, forward_laplacian, laplacian_autograd, laplacian_func, mlp_forward, mlp_laplacian

F64 = torch.float64


def _points(n: int = 64, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 2, dtype=F64, generator=torch.Generator().manual_seed(seed))


def _random_params(*, width: int = 16, depth: int = 3, activation: str = "tanh", seed: int = 0):
    """A float64 MLP with non-zero biases too (zero biases could hide a layout bug)."""
    net = MLP(width=width, depth=depth, activation=activation, seed=seed, dtype=F64)
    g = torch.Generator().manual_seed(100 + seed)
    params = []
    for p in net.parameters():
        shift = 0.3 * torch.randn(p.shape, dtype=F64, generator=g) if p.ndim == 1 else 0.0
        params.append((p.detach() + shift).requires_grad_(True))
    return params


@pytest.mark.parametrize("laplacian", [laplacian_autograd, laplacian_func])
@pytest.mark.parametrize("k", [1.0, 2.0, 2.5])
def test_laplacian_of_manufactured_solution_is_exact(laplacian, k):
    def u_star(x):
        return torch.sin(math.pi * k * x[:, 0]) * torch.sin(math.pi * k * x[:, 1])

    x = _points()
    u, lap = laplacian(u_star, x)
    torch.testing.assert_close(u, u_star(x), rtol=0, atol=0)
    torch.testing.assert_close(lap, -2 * (math.pi * k) ** 2 * u_star(x), rtol=1e-12, atol=1e-10)


def test_forward_laplacian_matches_one_hidden_layer_closed_form():
    # u = w2 . tanh(W1 x + b1) + b2  =>  Lap u = sum_j w2_j tanh''(z_j) (W1_j0^2 + W1_j1^2)
    g = torch.Generator().manual_seed(3)
    W1, b1 = torch.randn(8, 2, dtype=F64, generator=g), torch.randn(8, dtype=F64, generator=g)
    w2, b2 = torch.randn(1, 8, dtype=F64, generator=g), torch.randn(1, dtype=F64, generator=g)
    x = _points()
    t = torch.tanh(x @ W1.T + b1)
    expected_u = t @ w2[0] + b2
    expected_lap = (-2 * t * (1 - t**2) * (W1**2).sum(1)) @ w2[0]
    u, lap = forward_laplacian([W1, b1, w2, b2], x)
    torch.testing.assert_close(u, expected_u, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(lap, expected_lap, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("method", ["forward", "func"])
@pytest.mark.parametrize("activation", ["tanh", "sin", "softplus"])
def test_laplacians_equal_nested_autograd_reference_with_param_gradients(method, activation):
    params = _random_params(activation=activation)
    x = _points()

    def loss_and_grads(m):
        u, lap = mlp_laplacian(params, x, method=m, activation=activation)
        loss = 0.5 * (lap + 3.0 * u - torch.cos(x[:, 0])).square().mean()
        return u, lap, torch.autograd.grad(loss, params)

    u_ref, lap_ref, grads_ref = loss_and_grads("autograd")
    u, lap, grads = loss_and_grads(method)
    assert lap_ref.abs().max() > 1e-3  # a non-trivial Laplacian
    torch.testing.assert_close(u, u_ref, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(lap, lap_ref, rtol=1e-11, atol=1e-13)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref, rtol=1e-10, atol=1e-12)


def test_summed_gradient_bug_is_caught_by_the_reference():
    """grad(g.sum(), x) sums the Hessian's rows: Lap u + 2 u_xy, not Lap u."""
    params = _random_params(seed=1)
    x = _points().requires_grad_(True)
    u = mlp_forward(params, x)
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    (row_sums,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    buggy = row_sums.sum(1)
    _, lap = laplacian_autograd(lambda p: mlp_forward(params, p), x)
    hess = torch.func.vmap(torch.func.hessian(lambda p: mlp_forward(params, p[None])[0]))(x.detach())
    torch.testing.assert_close(buggy, lap + 2 * hess[:, 0, 1], rtol=1e-11, atol=1e-13)
    assert not torch.allclose(buggy, lap, rtol=1e-3, atol=1e-6)  # not a rounding comparison: they must differ


def test_forward_laplacian_vmaps_over_stacked_seeds():
    per_seed = [[p.detach() for p in _random_params(seed=s)] for s in range(3)]
    stacked = [torch.stack(ps) for ps in zip(*per_seed)]
    x = _points()
    u, lap = torch.func.vmap(forward_laplacian, in_dims=(0, None))(stacked, x)
    for s, params in enumerate(per_seed):
        u_s, lap_s = forward_laplacian(params, x)
        torch.testing.assert_close(u[s], u_s, rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(lap[s], lap_s, rtol=1e-13, atol=1e-14)


def test_invalid_laplacian_inputs_raise():
    params = _random_params()
    with pytest.raises(ValueError, match="laplacian must be one of"):
        mlp_laplacian(params, _points(), method="hessian-sum")
    with pytest.raises(ValueError, match="params must be"):
        forward_laplacian(params[:2], _points())
    with pytest.raises(ValueError, match="activation must be one of"):
        forward_laplacian(params, _points(), activation="relu")
