"""Muon against torch.optim.Muon (bfloat16) and a float64 transcription (float32)."""

import math

import pytest
import torch

from muonlab.optim import Muon, build

from .reference import (ema_float32_error, gradient_sequence, ns5_f64, ns5_input_float32_bound,
                        parameter_float32_bound)

SHAPES = [(24, 10), (10, 24), (16, 16)]


def _quadratic_grad(W: torch.Tensor, A: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    return A.T @ (A @ W - T)


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_torch_muon_bfloat16(shape):
    g = torch.Generator().manual_seed(0)
    W0 = torch.randn(shape, generator=g)
    A = torch.randn(shape[0], shape[0], generator=g) / math.sqrt(shape[0])
    T = torch.randn(shape, generator=g)
    ours = torch.nn.Parameter(W0.clone())
    theirs = torch.nn.Parameter(W0.clone())
    opt_ours = build("muon", [ours], ns_dtype=torch.bfloat16, lr=1e-3, weight_decay=0.1)
    opt_theirs = torch.optim.Muon([theirs], lr=1e-3, weight_decay=0.1)
    for _ in range(25):
        for p, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            p.grad = _quadratic_grad(p.detach(), A, T)
            opt.step()
        moved = (theirs - W0).norm()
        assert (ours - theirs).norm() <= 1e-2 * moved
    assert moved > 0.02  # the comparison covers a real trajectory


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("adjust_lr", ["original", "match_rms_adamw"])
def test_float32_matches_float64_transcription(shape, nesterov, adjust_lr):
    lr, beta, wd = 0.02, 0.9, 0.05
    m, n = shape
    scale = math.sqrt(max(1.0, m / n)) if adjust_lr == "original" else 0.2 * math.sqrt(max(m, n))
    grads = gradient_sequence(shape, 20, seed=1)
    W0 = torch.randn(shape, generator=torch.Generator().manual_seed(2))
    p = torch.nn.Parameter(W0.clone())
    opt = Muon([p], lr=lr, momentum=beta, nesterov=nesterov, weight_decay=wd, adjust_lr=adjust_lr)
    W, M = W0.double(), torch.zeros(shape, dtype=torch.float64)
    g_max = max(G.abs().max().item() for G in grads)
    update_errors, w_max = [], W.abs().max().item()
    for G in grads:
        p.grad = G.clone()
        opt.step()
        G64 = G.double()
        M = beta * M + (1 - beta) * G64
        U = G64 + beta * (M - G64) if nesterov else M
        O = ns5_f64(U)
        W = W * (1 - lr * wd) - lr * scale * O
        # Float32 bound (fixed gradients, so linear in the steps): per entry, the momentum's
        # rounding through NS5's Jacobian plus NS5's own rounding, times lr * scale, summed
        # over the steps with the parameter update's rounding (tests/optim/reference.py);
        # each step's share stays well below what one step moves W (lr * scale * mean |O_ij|).
        o_error = ns5_input_float32_bound(U, ema_float32_error(g_max, beta, nesterov))
        update_errors.append(lr * scale * o_error)
        w_max = max(w_max, W.abs().max().item())
        bound = parameter_float32_bound(update_errors, w_max, lr * scale * O.abs().max().item())
        assert update_errors[-1] < 0.1 * lr * scale * O.abs().mean().item()  # << one step's move
        torch.testing.assert_close(p.detach().double(), W, rtol=0, atol=bound)
        # ||O32 - O||_F <= sqrt(m n) * o_error, relative to ||O||_F
        rel = math.sqrt(m * n) * o_error / O.norm().item()
        stats = opt.last_stats()
        assert stats["update_fro"] == pytest.approx((lr * scale * O).norm().item(), rel=rel)
        assert stats["update_rms"] == pytest.approx(lr * scale * O.norm().item() / math.sqrt(m * n), rel=rel)
        torch.testing.assert_close(p.grad, G)  # p.grad is never modified
