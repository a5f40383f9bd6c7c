"""NorMuon and RMNP against float64 transcriptions of SPEC-optim."""

import math

import pytest
import torch

from muonlab.optim import RMNP, NorMuon

from .reference import (EPS32, ema_float32_error, gradient_sequence, jacobian_inf_norm, normuon_eta_rel_bound,
                        normuon_update, ns5_f64, ns5_input_float32_bound, parameter_float32_bound)


def row_normalize_f64(U: torch.Tensor) -> torch.Tensor:
    return U / torch.clamp(torch.sqrt((U * U).sum(dim=1, keepdim=True)), min=1e-12)


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
    c = rms * lr * math.sqrt(m * n)
    g_max = max(G.abs().max().item() for G in grads)
    update_errors, w_max, v_error = [], W.abs().max().item(), 0.0
    for G in grads:
        p.grad = G.clone()
        opt.step()
        G64 = G.double()
        M = b1 * M + (1 - b1) * G64
        U = G64 + b1 * (M - G64) if nesterov else M
        O = ns5_f64(U)
        # Float32 bound, first order, linear over the fixed-gradient steps: O's error
        # (momentum rounding through NS5 + NS5's rounding) and v's error pass through the
        # Jacobians of the update map at the exact (O, v); the map's own ~10 roundings per
        # entry plus its norm's m n / 2 add (m n / 2 + 10) eps32 |u|.
        o_error = ns5_input_float32_bound(U, ema_float32_error(g_max, b1, nesterov))
        step = normuon_update(O, v, b2, eps, c)
        update_errors.append(jacobian_inf_norm(normuon_update, O, 0, v, b2, eps, c) * o_error
                             + jacobian_inf_norm(normuon_update, v, 1, O, b2, eps, c) * v_error
                             + (m * n / 2 + 10) * EPS32 * step.abs().max().item())
        v_prev, v_prev_error = v, v_error
        # v = b2 v + (1 - b2) mean(O^2): |d mean(O^2)| <= 2 |O| o_error, rounding (n + 4) eps32 v
        v_error = b2 * v_error + (1 - b2) * 2 * O.abs().max().item() * o_error
        v = b2 * v + (1 - b2) * (O * O).mean(dim=1)
        v_error += (n + 4) * EPS32 * v.max().item()
        O_hat = O / torch.sqrt(v + eps)[:, None]
        eta_hat = c / (O_hat.norm() + eps)
        W = W * (1 - lr * wd) - eta_hat * O_hat
        w_max = max(w_max, W.abs().max().item())
        assert update_errors[-1] < 0.25 * step.abs().mean().item()  # < a quarter of one step's move
        bound = parameter_float32_bound(update_errors, w_max, step.abs().max().item())
        torch.testing.assert_close(p.detach().double(), W, rtol=0, atol=bound)
        rel = normuon_eta_rel_bound(O, v_prev, b2, eps, o_error, v_prev_error)
        assert opt.last_stats()["eta_hat"] == pytest.approx(eta_hat.item(), rel=rel)


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
    scale = lr * math.sqrt(max(1.0, m / n))
    g_max = max(G.abs().max().item() for G in grads)
    update_errors, w_max = [], W.abs().max().item()
    for G in grads:
        p.grad = G.clone()
        opt.step()
        G64 = G.double()
        M = beta * M + (1 - beta) * G64
        U = G64 + beta * (M - G64) if nesterov else M
        D = row_normalize_f64(U)
        W = W * (1 - lr * wd) - scale * D
        # Float32 bound, first order, linear over the fixed-gradient steps: the momentum's
        # rounding through the row normalization's Jacobian at the exact U, plus the
        # normalization's own rounding (row sum of n squares, sqrt, division: (n / 2 + 3)
        # eps32 relative, |D| <= 1), times lr * scale; then the parameter update's rounding.
        d_error = (jacobian_inf_norm(row_normalize_f64, U) * ema_float32_error(g_max, beta, nesterov)
                   + (n / 2 + 3) * EPS32)
        update_errors.append(scale * d_error)
        w_max = max(w_max, W.abs().max().item())
        assert update_errors[-1] < 0.1 * scale * D.abs().mean().item()  # << one step's move
        bound = parameter_float32_bound(update_errors, w_max, scale)
        torch.testing.assert_close(p.detach().double(), W, rtol=0, atol=bound)
