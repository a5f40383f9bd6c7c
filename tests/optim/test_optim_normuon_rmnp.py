"""NorMuon and RMNP against float64 transcriptions of SPEC-optim."""

import math

import pytest
import torch

from muonlab.optim import RMNP, NorMuon

from .reference import gradient_sequence, ns5_f64


@pytest.mark.parametrize("shape", [(18, 8), (8, 18)])
@pytest.mark.parametrize("nesterov", [False, True])
def test_normuon_matches_float64_transcription(shape, nesterov):
    lr, b1, b2, eps, rms, wd = 0.02, 0.9, 0.8, 1e-8, 0.2, 0.01
    m, n = shape
    grads = gradient_sequence(shape, 15, seed=3)
    W0 = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    p = torch.nn.Parameter(W0.clone())
    opt = NorMuon([p], lr=lr, beta1=b1, beta2=b2, eps=eps, rms_scale=rms, nesterov=nesterov, weight_decay=wd)
    W, M, v = W0.double(), torch.zeros(shape, dtype=torch.float64), torch.zeros(m, dtype=torch.float64)
    for G in grads:
        p.grad = G.clone()
        opt.step()
        G64 = G.double()
        M = b1 * M + (1 - b1) * G64
        O = ns5_f64(G64 + b1 * (M - G64) if nesterov else M)
        v = b2 * v + (1 - b2) * (O * O).mean(dim=1)
        O_hat = O / torch.sqrt(v + eps)[:, None]
        eta_hat = rms * lr * math.sqrt(m * n) / (O_hat.norm() + eps)
        W = W * (1 - lr * wd) - eta_hat * O_hat
        torch.testing.assert_close(p.detach().double(), W, rtol=0, atol=2e-5)
        assert opt.last_stats()["eta_hat"] == pytest.approx(eta_hat.item(), rel=1e-4)


def test_normuon_rms_scale_one_gives_update_rms_lr():
    p = torch.nn.Parameter(torch.zeros(12, 7))
    opt = NorMuon([p], lr=3e-3, rms_scale=1.0)
    for G in gradient_sequence((12, 7), 5, seed=5):
        p.grad = G
        opt.step()
        assert opt.last_stats()["update_rms"] == pytest.approx(3e-3, rel=1e-5)


@pytest.mark.parametrize("shape", [(20, 6), (6, 20), (9, 9)])
@pytest.mark.parametrize("nesterov", [True, False])
def test_rmnp_matches_float64_transcription(shape, nesterov):
    lr, beta, wd = 0.02, 0.95, 0.1
    m, n = shape
    grads = gradient_sequence(shape, 12, seed=6)
    W0 = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    p = torch.nn.Parameter(W0.clone())
    opt = RMNP([p], lr=lr, momentum=beta, nesterov=nesterov, weight_decay=wd)
    W, M = W0.double(), torch.zeros(shape, dtype=torch.float64)
    for G in grads:
        p.grad = G.clone()
        opt.step()
        G64 = G.double()
        M = beta * M + (1 - beta) * G64
        U = G64 + beta * (M - G64) if nesterov else M
        D = U / torch.clamp(torch.sqrt((U * U).sum(dim=1, keepdim=True)), min=1e-12)
        W = W * (1 - lr * wd) - lr * math.sqrt(max(1.0, m / n)) * D
        torch.testing.assert_close(p.detach().double(), W, rtol=0, atol=5e-6)
