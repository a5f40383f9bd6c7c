"""TrasMuon (all registry variants) against a float64 transcription of Algorithm 1
(SPEC-optim trasmuon), with column bursts so that the clip and the trigger engage."""

import math

import pytest
import torch

from muonlab.optim import build

from .reference import ns5_f64

M_ROWS, N_COLS = 14, 10
VARIANTS = {
    "trasmuon": dict(clip=True, rho=0.5),
    "trasmuon-clip-sf": dict(clip=True, rho=0.5),
    "trasmuon-clip-only": dict(clip=True, rho=0.0),
    "trasmuon-noclip": dict(clip=False, rho=0.5),
}


def bursty_gradients(steps: int, seed: int) -> list[torch.Tensor]:
    """Gaussian gradients with fixed column scales and column bursts (x25) at steps 9 and 15."""
    g = torch.Generator().manual_seed(seed)
    col_scale = torch.tensor([0.3, 0.4, 0.5, 0.6, 0.7, 2.0, 2.2, 2.4, 2.6, 2.8])
    out = []
    for t in range(1, steps + 1):
        G = torch.randn(M_ROWS, N_COLS, generator=g) * col_scale
        if t in (9, 15):
            G[:, [1, 7]] *= 25.0
        out.append(G)
    return out


def trasmuon_reference(W0, grads, *, lr, beta1, beta2, eps, wd, c_min, alpha, beta_E, beta_c, k, K, T_w, rho, bias, clip):
    """Algorithm 1 in float64, literally; returns per-step (W, c, r)."""
    m, n = W0.shape
    W = W0.double().clone()
    M = torch.zeros(m, n, dtype=torch.float64)
    v_row = torch.zeros(m, dtype=torch.float64)
    E_ref, S, C = 0.0, 0.0, torch.zeros(n, dtype=torch.float64)
    c_ema = torch.ones(n, dtype=torch.float64)
    c_last = torch.ones(n, dtype=torch.float64)
    history = []
    for t, G in enumerate(grads, start=1):
        W = (1 - lr * wd) * W
        M = beta1 * M + (1 - beta1) * G.double()
        O = ns5_f64(M / (torch.sqrt((M * M).sum()) / math.sqrt(m * n) + eps))
        v_row = beta2 * v_row + (1 - beta2) * (O**2).mean(dim=1)
        O_base = O / torch.sqrt(v_row + eps)[:, None]
        eta_hat = lr * math.sqrt(m * n) / (torch.sqrt((O_base**2).sum()) + eps)
        E = (M**2).sum(dim=0)
        E_sorted = torch.sort(E).values
        E_cur = 0.5 * (E_sorted[(n - 1) // 2] + E_sorted[n // 2])
        E_ref = beta_E * E_ref + (1 - beta_E) * E_cur
        E_ref_used = E_ref / (1 - beta_E**t) if bias else E_ref
        S = S + lr**2
        C = C + lr**2 * c_last
        c_avg = C / (S + eps)
        r = E / (E_ref_used + eps)
        if clip and t > T_w and t % K == 0:
            c_clip = torch.clamp(1 / (1 + alpha * torch.log(1 + r)), c_min, 1.0)
            c_inst = c_clip if k is None else torch.where(r > k, c_clip, torch.ones_like(r))
            c_ema = beta_c * c_ema + (1 - beta_c) * c_inst
        c = torch.ones(n, dtype=torch.float64) if (not clip or t <= T_w) else (1 - rho) * c_ema + rho * c_avg
        c_last = c
        W = W - eta_hat * O_base * c[None, :]
        history.append((W.clone(), c.clone(), r.clone()))
    return history


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("k,K,bias", [(1.0, 1, True), (2.0, 2, False), (None, 1, True)])
def test_matches_float64_transcription(name, k, K, bias):
    hp = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.01, c_min=0.2, alpha=1.5,
              beta_E=0.9, beta_c=0.7, k=k, K=K, T_w=3)
    grads = bursty_gradients(18, seed=11)
    W0 = torch.randn(M_ROWS, N_COLS, generator=torch.Generator().manual_seed(12))
    p = torch.nn.Parameter(W0.clone())
    opt = build(name, [p], ref_bias_correction=bias, **hp)
    ref = trasmuon_reference(W0, grads, rho=VARIANTS[name]["rho"], bias=bias, clip=VARIANTS[name]["clip"],
                             **{key: hp[key] for key in hp if key not in ("weight_decay",)}, wd=hp["weight_decay"])
    clipped_steps = mixed_trigger_steps = 0
    for t, (G, (W_ref, c_ref, r_ref)) in enumerate(zip(grads, ref), start=1):
        p.grad = G.clone()
        opt.step()
        torch.testing.assert_close(p.detach().double(), W_ref, rtol=0, atol=2e-5)
        s = opt.last_stats()
        assert s["c_used_min"] == pytest.approx(c_ref.min().item(), abs=1e-5)
        assert s["c_used_mean"] == pytest.approx(c_ref.mean().item(), abs=1e-5)
        assert s["frac_clipped"] == pytest.approx((c_ref < 1).double().mean().item(), abs=1e-6)
        assert s["r_max"] == pytest.approx(r_ref.max().item(), rel=1e-4)
        assert s["r_q95"] == pytest.approx(torch.quantile(r_ref, 0.95).item(), rel=1e-4)
        clipped_steps += int(c_ref.min() < 0.9)
        if k is not None and t > 3 and t % K == 0:
            mixed_trigger_steps += int(bool((r_ref > k).any() and (r_ref <= k).any()))
    if VARIANTS[name]["clip"]:
        assert clipped_steps >= 3  # the clip engaged
        if k is not None:
            assert mixed_trigger_steps >= 3  # the trigger separated columns
    else:
        assert clipped_steps == 0
