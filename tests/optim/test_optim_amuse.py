"""AMUSE / SF-Muon against a float64 transcription (SPEC-optim amuse), the beta_t closed
form, and the train()/eval() switch of every schedule-free optimizer."""

import math

import pytest
import torch

from muonlab.optim import build

from .reference import (EPS32, ema_float32_error, gradient_sequence, ns5_f64, ns5_input_float32_bound,
                        parameter_float32_bound)


def adam_direction(g: torch.Tensor, v: torch.Tensor, bias: float, eps: float) -> torch.Tensor:
    """The bias's z-step direction g / (sqrt(v / (1 - beta2^t)) + eps)."""
    return g / (torch.sqrt(v / bias) + eps)


def amuse_reference(W0, b0, grads, bgrads, *, lr, mu, beta1, rho, T0, wd, beta2, eps):
    """Float64 transcription; returns per-step (y_W, x_W, y_b, x_b, beta_t, c_t, U, v, lr_t):
    U (the Nesterov momentum) and v (the bias's second moment) for the float32 bound."""
    m, n = W0.shape
    zW, xW = W0.double().clone(), W0.double().clone()
    zb, xb = b0.double().clone(), b0.double().clone()
    M = torch.zeros(m, n, dtype=torch.float64)
    v = torch.zeros_like(zb)
    weights, c_T0, out = [], None, []
    for t, (G, g) in enumerate(zip(grads, bgrads), start=1):
        lr_t = lr * min(1.0, t / T0)
        weights.append(lr_t**2)
        c_t = weights[-1] / sum(weights)
        if t == T0:
            c_T0 = c_t
        if t <= T0:
            beta_t = beta1
        else:
            S_t = c_t * (1 - c_T0) / (c_T0 * (1 - c_t))
            beta_t = 1 - S_t**rho * (1 - beta1)
        G = G.double()
        M = mu * M + (1 - mu) * G
        U = G + mu * (M - G)
        O = ns5_f64(U) * 0.2 * math.sqrt(max(m, n))
        zW = zW * (1 - lr_t * wd) - lr_t * O
        g = g.double()
        v = beta2 * v + (1 - beta2) * g * g
        zb = zb * (1 - lr_t * wd) - lr_t * adam_direction(g, v, 1 - beta2**t, eps)
        xW = (1 - c_t) * xW + c_t * zW
        xb = (1 - c_t) * xb + c_t * zb
        out.append(((1 - beta_t) * zW + beta_t * xW, xW.clone(), (1 - beta_t) * zb + beta_t * xb, xb.clone(), beta_t, c_t,
                    U, v.clone(), lr_t))
    return out


@pytest.mark.parametrize("name,rho", [("amuse", 1.0), ("amuse", 0.5), ("sf-muon", 0.0)])
def test_matches_float64_transcription(name, rho):
    hp = dict(lr=0.05, momentum=0.9, beta1=0.8, T0=4, weight_decay=0.02, beta2=0.99, eps=1e-8)
    shape = (12, 7)
    grads = gradient_sequence(shape, 14, seed=21)
    bgrads = gradient_sequence((7,), 14, seed=22)
    W0 = torch.randn(shape, generator=torch.Generator().manual_seed(23))
    b0 = torch.randn(7, generator=torch.Generator().manual_seed(24))
    W, b = torch.nn.Parameter(W0.clone()), torch.nn.Parameter(b0.clone())
    extra = {} if name == "sf-muon" else {"rho": rho}
    opt = build(name, [W, b], **hp, **extra)
    ref = amuse_reference(W0, b0, grads, bgrads, rho=rho, mu=hp["momentum"], **{k: hp[k] for k in ("lr", "beta1", "T0", "beta2", "eps")}, wd=hp["weight_decay"])
    # Float32 bounds, first order, linear over the fixed-gradient steps: z's step errors
    # (W: momentum rounding through NS5's Jacobian + NS5's rounding, times lr_t scale; b:
    # the Adam direction's relative rounding, below) add up;
    # x and y are convex combinations of z and x (errors do not grow), whose two extra
    # rounding triples per step make the parameter rounding 3 w_max (not w_max).
    scale, bias_err = 0.2 * math.sqrt(max(shape)), []
    g_max = max(G.abs().max().item() for G in grads)
    W_err, w_max, b_w_max = [], W0.abs().max().item(), b0.abs().max().item()
    for t, (G, g, (yW, xW, yb, xb, beta_t, c_t, U, v, lr_t)) in enumerate(zip(grads, bgrads, ref), start=1):
        W.grad, b.grad = G.clone(), g.clone()
        opt.step()
        o_error = ns5_input_float32_bound(U, ema_float32_error(g_max, hp["momentum"], nesterov=True))
        W_err.append(lr_t * scale * o_error)
        # v is a sum of positive terms: 3 roundings per step, relative error <= 3 t eps32;
        # sqrt halves it; the bias correction, sqrt, + eps and division add <= 4 eps32.
        direction = adam_direction(g.double(), v, 1 - hp["beta2"]**t, hp["eps"])
        bias_err.append(lr_t * (1.5 * t + 4) * EPS32 * direction.abs().max().item())
        w_max = max(w_max, yW.abs().max().item(), xW.abs().max().item())
        b_w_max = max(b_w_max, yb.abs().max().item(), xb.abs().max().item())
        W_bound = parameter_float32_bound(W_err, 3 * w_max, lr_t * scale * 1.2)
        b_bound = parameter_float32_bound(bias_err, 3 * b_w_max, lr_t * direction.abs().max().item())
        assert W_err[-1] < 0.1 * lr_t * scale * ns5_f64(U).abs().mean().item()  # << one z step
        torch.testing.assert_close(W.detach().double(), yW, rtol=0, atol=W_bound)
        torch.testing.assert_close(b.detach().double(), yb, rtol=0, atol=b_bound)
        stats = opt.last_stats()  # beta_t, c_t: float64 scalar schedules (not float32)
        assert stats["beta_t"] == pytest.approx(beta_t, rel=1e-6)
        assert stats["c_t"] == pytest.approx(c_t, rel=1e-6)
        opt.eval()
        torch.testing.assert_close(W.detach().double(), xW, rtol=0, atol=W_bound)
        torch.testing.assert_close(b.detach().double(), xb, rtol=0, atol=b_bound)
        opt.train()
    if rho > 0:
        assert ref[-1][4] > hp["beta1"] + 0.05  # beta_t annealed towards 1 after T0


def test_beta_t_closed_form():
    """With linear warm-up, sum_{i<=t} w_i = lr^2 (T0+1)(2 T0+1)/(6 T0) + lr^2 (t - T0)."""
    lr, T0, beta1, rho = 0.02, 10, 0.9, 1.0
    p = torch.nn.Parameter(torch.zeros(6, 4))
    opt = build("amuse", [p], lr=lr, T0=T0, beta1=beta1, rho=rho)
    warm_sum = (T0 + 1) * (2 * T0 + 1) / (6 * T0)
    c_T0 = 1.0 / warm_sum
    for t in range(1, 31):
        p.grad = torch.ones(6, 4)
        opt.step()
        stats = opt.last_stats()
        if t > T0:
            c_t = 1.0 / (warm_sum + t - T0)
            S_t = c_t * (1 - c_T0) / (c_T0 * (1 - c_t))
            assert stats["c_t"] == pytest.approx(c_t, rel=1e-6)
            assert stats["beta_t"] == pytest.approx(1 - S_t**rho * (1 - beta1), rel=1e-6)
        else:
            assert stats["beta_t"] == pytest.approx(beta1, rel=1e-6)


@pytest.mark.parametrize("name", ["amuse", "sf-muon"])
def test_amuse_train_eval_switch_is_exact(name):
    p = torch.nn.Parameter(torch.randn(8, 5, generator=torch.Generator().manual_seed(3)))
    opt = build(name, [p], T0=2)
    for G in gradient_sequence((8, 5), 6, seed=4):
        p.grad = G
        opt.step()
    y = p.detach().clone()
    opt.eval()
    x = opt.state[p]["x"]
    assert torch.equal(p.detach(), x) and not torch.equal(x, y)
    with pytest.raises(RuntimeError, match="eval mode"):
        opt.step()
    opt.train()
    assert torch.equal(p.detach(), y)


def test_sf_adamw_train_eval_switch():
    p = torch.nn.Parameter(torch.randn(5, 3, generator=torch.Generator().manual_seed(5)))
    opt = build("sf-adamw", [p], lr=0.01)
    for G in gradient_sequence((5, 3), 6, seed=6):
        p.grad = G
        opt.step()
    y = p.detach().clone()
    z = opt.state[p]["z"]
    beta1 = opt.param_groups[0]["betas"][0]
    opt.eval()
    # schedulefree: y = (1 - beta1) z + beta1 x, so x = (y - (1 - beta1) z) / beta1. Float32:
    # forming y (either as a sum of two products or as a lerp) and undoing it here (a product,
    # a difference, a division) round <= 8 times, each <= eps32 max(|x|, |y|, |z|); dividing
    # by beta1 scales the y-side errors by 1 / beta1.
    x = p.detach()  # eval mode holds x
    bound = 8 * EPS32 * max(t.abs().max().item() for t in (x, y, z)) / beta1
    torch.testing.assert_close(x, (y - (1 - beta1) * z) / beta1, rtol=0, atol=bound)
    assert not torch.allclose(x, y, rtol=0, atol=100 * bound)
    opt.train()
    torch.testing.assert_close(p.detach(), y, rtol=0, atol=bound)
