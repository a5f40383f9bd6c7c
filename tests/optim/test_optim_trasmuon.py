"""TrasMuon (all registry variants) against a float64 transcription of Algorithm 1
(SPEC-optim trasmuon), with column bursts so that the clip and the trigger engage."""

import math

import numpy as np
import pytest
import torch

from muonlab.optim import build

from .reference import (EPS32, jacobian_spectral_norm, normuon_update, ns5_f64, ns5_input_float32_fro_bound,
                        parameter_float32_bound)

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
    """Algorithm 1 in float64, literally; returns per step a dict of W, c, r and the
    quantities the float32 bounds are evaluated at (M, O, v_prev: v before the step)."""
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
        v_prev = v_row
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
        step = eta_hat * O_base * c[None, :]
        W = W - step
        history.append(dict(W=W.clone(), c=c.clone(), r=r.clone(), M=M.clone(), O=O, v_prev=v_prev, step=step))
    return history


def momentum_column_error(previous: torch.Tensor, M: torch.Tensor, G: torch.Tensor, beta: float, eps: float) -> torch.Tensor:
    """Per-column bound on |M_computed - M| (rounding unit eps) after M = beta M + (1 - beta) G
    from the previous step's bound: the old error decays by beta; the two products and the
    sum round by <= eps max(|M|, |G|) each (column-wise maxima of the float64 values)."""
    scale = torch.maximum(M.abs().amax(dim=0), G.double().abs().amax(dim=0))
    return beta * previous + 3 * eps * scale


def ratio_rel_bound(M: torch.Tensor, m_error: torch.Tensor, eps: float) -> float:
    """Relative bound on E_j = sum_i M_ij^2 (over all columns j) when column j of M is off
    by <= m_error[j] per entry, rounding unit eps: E_j moves by <= 2 ||M_j||_1 m_error[j]
    plus its m squares' (m + 1) eps E_j. The median of values each within rho relative is
    within rho (it is monotone), an EMA of positive terms keeps its terms' largest
    relative error (+ 2 eps per step: the caller takes the max over the steps), and
    r_j = E_j / (E_ref_used + eps) adds E_j's and E_ref's relative errors + 3 eps."""
    m = M.shape[0]
    return (2 * M.abs().sum(dim=0) * m_error / (M * M).sum(dim=0)).max().item() + (m + 1) * eps


HP = dict(lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.01, c_min=0.2, alpha=1.5,
          beta_E=0.9, beta_c=0.7, T_w=3)


@pytest.mark.parametrize("name", list(VARIANTS))
@pytest.mark.parametrize("k,K,bias", [(1.0, 1, True), (2.0, 2, False), (None, 1, True)])
def test_matches_float64_transcription(name, k, K, bias):
    """Float32 TrasMuon vs the transcription, in two parts.

    1. Steps t <= T_w (c = 1: calibrated NorMuon, before the clip and the first burst):
       W within the first-order float32 bound (momentum rounding through NS5's Jacobian,
       the update map's Jacobians in O and v, linear in the fixed-gradient steps), r_max
       and r_q95 within ratio_rel_bound, c_used = 1 and frac_clipped = 0 exactly. After
       T_w the x25 column bursts make that bound useless (~0.1 on W at step 18, h8), so
       float32 W is not compared there.
    2. Every step, the clip logic in float64: the same optimizer on float64 parameters
       keeps M, E, E_ref, r, c_ema, c_avg and c in float64 (only NS5 runs in float32),
       so r and c match the transcription within float64 rounding bounds; the trigger
       r > k is checked with a decision margin |r - k| > bound at every trigger step.
    """
    hp = dict(HP, k=k, K=K)
    m, n = M_ROWS, N_COLS
    grads = bursty_gradients(18, seed=11)
    W0 = torch.randn(M_ROWS, N_COLS, generator=torch.Generator().manual_seed(12))
    p = torch.nn.Parameter(W0.clone())
    p64 = torch.nn.Parameter(W0.double().clone())
    opt = build(name, [p], ref_bias_correction=bias, **hp)
    opt64 = build(name, [p64], ref_bias_correction=bias, **hp)
    ref = trasmuon_reference(W0, grads, rho=VARIANTS[name]["rho"], bias=bias, clip=VARIANTS[name]["clip"],
                             **{key: hp[key] for key in hp if key not in ("weight_decay",)}, wd=hp["weight_decay"])
    eps32, eps64 = EPS32, 2.0**-53
    lr, b1, b2, eps, alpha = hp["lr"], hp["beta1"], hp["beta2"], hp["eps"], hp["alpha"]
    c_scale = lr * math.sqrt(m * n)
    update_errors, w_max, v_error = [], W0.abs().max().item(), 0.0
    rho32 = rho64 = c_error = 0.0
    e32 = e64 = torch.zeros(n, dtype=torch.float64)
    clipped_steps = mixed_trigger_steps = 0
    for t, (G, h) in enumerate(zip(grads, ref), start=1):
        p.grad, p64.grad = G.clone(), G.double()
        opt.step()
        opt64.step()
        r_ref, c_ref = h["r"], h["c"]
        # Part 2 (every step): float64 clip logic. The momentum's per-column rounding
        # (momentum_column_error) in float64 here, in float32 for part 1.
        e32 = momentum_column_error(e32, h["M"], G, b1, eps32)
        e64 = momentum_column_error(e64, h["M"], G, b1, eps64)
        rho64 = max(rho64, ratio_rel_bound(h["M"], e64, eps64) + 2 * eps64)
        r_rel64 = 2 * rho64 + 3 * eps64
        # c_inst = clip(1 / (1 + alpha log(1 + r))) moves by <= alpha r / (1 + r) * dr / r; its
        # 6 roundings, the EMAs' and c_avg = C / (S + eps)'s (2 t + 4) eps64, and c_last's
        # earlier error carried by C
        c_error = c_error + alpha * r_rel64 + (2 * t + 10 + 3 / (1 - hp["beta_c"])) * eps64
        clip_active = VARIANTS[name]["clip"] and t > hp["T_w"]
        if clip_active and t % K == 0 and k is not None:
            # decision margin: no r_j within its bound of k, so both sides trigger alike
            assert ((r_ref - k).abs() > r_ref * r_rel64).all()
        torch.testing.assert_close(opt64.state[p64]["c_last"], c_ref, rtol=0, atol=c_error)
        s64 = opt64.last_stats()  # statistics are reported in float32: + one rounding
        assert s64["r_max"] == pytest.approx(r_ref.max().item(), rel=r_rel64 + eps32)
        # the quantile of the float32-rounded r interpolates two order statistics: rounding
        # of r, the weight, the difference, the product and the sum: <= 6 eps32 r_max
        r_max = r_ref.max().item()
        assert s64["r_q95"] == pytest.approx(torch.quantile(r_ref, 0.95).item(), abs=(r_rel64 + 6 * eps32) * r_max)
        assert s64["c_used_min"] == pytest.approx(c_ref.min().item(), abs=c_error + eps32)
        assert s64["c_used_mean"] == pytest.approx(c_ref.mean().item(), abs=c_error + (n + 1) * eps32)
        # c < 1 decided in float32 on the rounded c: a margin of eps32 (or c == 1 exactly)
        assert ((c_ref == 1) | ((1 - c_ref) > 2 * eps32 + c_error)).all()
        # a float32 mean of 0/1 values: the count is exact, the division rounds once (exactly
        # as float32(count / n))
        assert s64["frac_clipped"] == float(np.float32(int((c_ref < 1).sum()) / n))
        # Part 1 (t <= T_w): float32 against the transcription.
        if t <= hp["T_w"]:
            s = opt.last_stats()
            assert s["c_used_min"] == s["c_used_mean"] == 1.0 and s["frac_clipped"] == 0.0
            # In the Frobenius norm (up to sqrt(m n) tighter than per entry through the
            # Jacobians' infinity norms; |dW_ij| <= ||dW||_F): the momentum's rounding (per
            # column, momentum_column_error) and the pre-scaling's division (once per entry)
            # through NS5 (ns5_input_float32_fro_bound), then the update map's Jacobians in
            # O and v (spectral norms) and its own (m n / 2 + 10) eps32 |u|.
            M, O, v_prev = h["M"], h["O"], h["v_prev"]
            o_error = ns5_input_float32_fro_bound(M, math.sqrt(m) * e32.norm().item() + eps32 * M.norm().item())
            step = normuon_update(O, v_prev, b2, eps, c_scale)
            update_errors.append(jacobian_spectral_norm(normuon_update, O, 0, v_prev, b2, eps, c_scale) * o_error
                                 + jacobian_spectral_norm(normuon_update, v_prev, 1, O, b2, eps, c_scale) * v_error
                                 + (m * n / 2 + 10) * eps32 * step.norm().item())
            # v = b2 v + (1 - b2) mean_j O^2: ||d mean(O^2)||_2 <= 2 max|O| ||dO||_F / sqrt(n), rounding (n + 4) eps32 v
            v = b2 * v_prev + (1 - b2) * (O * O).mean(dim=1)
            v_error = (b2 * v_error + (1 - b2) * 2 * O.abs().max().item() * o_error / math.sqrt(n)
                       + (n + 4) * eps32 * v.norm().item())
            w_max = max(w_max, h["W"].abs().max().item())
            assert update_errors[-1] < 0.1 * h["step"].norm().item()  # << one step's move (Frobenius)
            # ||W32 - W||_F: the steps' errors add up (fixed gradients, no feedback), plus the
            # decay, product and subtraction's rounding (parameter_float32_bound per entry)
            bound = parameter_float32_bound(update_errors, 0.0, 0.0) + math.sqrt(m * n) * (
                parameter_float32_bound([0.0] * t, w_max, step.abs().max().item()))
            assert (p.detach().double() - h["W"]).norm().item() <= bound
            rho32 = max(rho32, ratio_rel_bound(M, e32, eps32) + 2 * eps32)
            r_rel32 = 2 * rho32 + 3 * eps32
            assert r_rel32 < 1e-3
            assert s["r_max"] == pytest.approx(r_ref.max().item(), rel=r_rel32)
            assert s["r_q95"] == pytest.approx(torch.quantile(r_ref, 0.95).item(), abs=(r_rel32 + 6 * eps32) * r_max)
        clipped_steps += int(c_ref.min() < 0.9)
        if k is not None and t > hp["T_w"] and t % K == 0:
            mixed_trigger_steps += int(bool((r_ref > k).any() and (r_ref <= k).any()))
    if VARIANTS[name]["clip"]:
        assert clipped_steps >= 3  # the clip engaged
        if k is not None:
            assert mixed_trigger_steps >= 3  # the trigger separated columns
    else:
        assert clipped_steps == 0
