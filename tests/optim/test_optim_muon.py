"""Muon against torch.optim.Muon (bfloat16) and a float64 transcription (float32)."""

import math

import pytest
import torch

from muonlab.optim import Muon, build

from .reference import gradient_sequence, ns5_f64

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
    for G in grads:
        p.grad = G.clone()
        opt.step()
        G64 = G.double()
        M = beta * M + (1 - beta) * G64
        U = G64 + beta * (M - G64) if nesterov else M
        O = ns5_f64(U)
        W = W * (1 - lr * wd) - lr * scale * O
        torch.testing.assert_close(p.detach().double(), W, rtol=0, atol=2e-5)
        stats = opt.last_stats()
        assert stats["update_fro"] == pytest.approx((lr * scale * O).norm().item(), rel=1e-4)
        assert stats["update_rms"] == pytest.approx(lr * scale * O.norm().item() / math.sqrt(m * n), rel=1e-4)
        torch.testing.assert_close(p.grad, G)  # p.grad is never modified
