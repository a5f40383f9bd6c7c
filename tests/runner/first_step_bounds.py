"""First-order float32 bounds on a seed-batched AWB-T run against each seed's own run at
step 1, and the float64 model of that step they are evaluated at.

Both sides start from the same float32 ``W0, A, B, T`` (the batch stacks each seed's own
problem, bit for bit) and the optimizer state is zero, so at step 1 they differ only by
the summation order of the gradient's matmuls and of the optimizer's reductions and NS5
(bmm vs mm, vector width, AVX2 vs AVX-512): no feedback through an earlier step yet. Each
side is within the bound below of the exact value of the same float32 inputs, so the two
differ by at most twice that. After step 1 the trajectories feed their differences back
through the gradient (kappa = 1e4): the runner tests compare the continuous columns at
step 1 only and the discrete outputs over the whole run (test_batched.py).

Rounding model: a sum of k products is within k eps32 of the exact value relative to the
sum of the absolute products (gamma_k); every bound is first order (products of two
rounding errors, ~1e-13, are neglected) and evaluated in float64 at the float32 inputs.
"""

from __future__ import annotations

import math

import torch

from muonlab.runner.config import RunConfig
from muonlab.runner.adapters import build_task
from muonlab.toyproblems.awbt import AWBT
from tests.optim.reference import (EPS32, jacobian_inf_norm, jacobian_spectral_norm,
                                   normuon_row_scaled, normuon_update, ns5_f64, ns5_input_float32_fro_bound)

# Columns that are the same on both sides by construction at step 1 (and, for the clip
# columns, up to the warm-up T_w): c = 1 exactly before the clip may act, frac_clipped 0,
# and the schedule-free scalars are the same float64 schedule.
EXACT_AT_STEP_1 = ("c_used_min", "c_used_mean", "frac_clipped", "c_J", "c_Jnext", "c_other", "beta_t", "c_t")


def row_normalize_f64(U: torch.Tensor) -> torch.Tensor:
    """RMNP's direction: each row of U over its Euclidean norm."""
    return U / torch.clamp(torch.sqrt((U * U).sum(dim=1, keepdim=True)), min=1e-12)


def energy_ratio_f64(M: torch.Tensor, beta_E: float, bias: bool, eps: float) -> torch.Tensor:
    """TrasMuon's r_j at step 1 (E_ref starts at 0): E_j / (E_ref_used + eps)."""
    E = (M * M).sum(dim=0)
    E_sorted = torch.sort(E).values
    n = E.numel()
    E_ref = (1 - beta_E) * 0.5 * (E_sorted[(n - 1) // 2] + E_sorted[n // 2])
    return E / ((E_ref / (1 - beta_E) if bias else E_ref) + eps)


def awbt_problem(config: RunConfig) -> AWBT:
    """The float32 AWB-T instance of a run (the same A, B, T, W0 as its task's)."""
    s = dict(config.settings)
    return AWBT(d=s["d"], kappa=s["kappa"], fix_V=s["fix_V"], seed=config.seed, scale=s["scale"])


def awbt_gradient_bound(problem: AWBT, W: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """``(G, e_G, R, e_R)`` at the float32 parameter ``W`` (in float64): the gradient and
    residual and one float32 evaluation's per-entry error bounds. R = (A W) B - T: two
    matmuls of inner size d and a subtraction; autograd's dL/dR = scale R (the constant
    product rounds twice), then A^T dR B^T (two more matmuls)."""
    A, B, T = (x.double() for x in (problem.A, problem.B, problem.T))
    W, d, scale = W.double(), problem.d, problem.scale
    R = A @ W @ B - T
    e_R = (2 * d + 1) * EPS32 * (A.abs() @ W.abs() @ B.abs() + T.abs())
    G = scale * A.T @ R @ B.T
    e_G = scale * (A.abs().T @ (e_R + 2 * EPS32 * R.abs()) @ B.abs().T + 2 * d * EPS32 * A.abs().T @ R.abs() @ B.abs().T)
    return G, e_G, R, e_R


def trasmuon_warmup_step_bound(problem: AWBT, W: torch.Tensor, state: dict, group: dict) -> tuple[float, float]:
    """``(bound, move)``: a bound on ||W_batched - W_single||_F after one TrasMuon step
    with c = 1 (t <= T_w) from the SAME float32 state (W, momentum, v_row) on both sides,
    and the step's exact size ||u||_F. The gradients differ by their evaluation's
    rounding (awbt_gradient_bound), the momentum lerp rounds 3 times per entry, the
    pre-scaling once; then NS5 (ns5_input_float32_fro_bound) and the calibrated NorMuon
    map's Jacobian in O (spectral norm) plus its (m n / 2 + 10) eps32 |u|; W - u rounds
    once per entry. Twice one side's error, in the Frobenius norm."""
    assert group["clip"] is False or state.get("step", 0) + 1 <= group["T_w"]
    m, n = W.shape
    G, e_G, _, _ = awbt_gradient_bound(problem, W)
    beta, b2, eps = group["beta1"], group["beta2"], group["eps"]
    M_prev = state["momentum_buffer"].double() if state else torch.zeros_like(G)
    v_prev = state["v_row"].double() if state else torch.zeros(m, dtype=torch.float64)
    U = beta * M_prev + (1 - beta) * G
    e_U = (1 - beta) * e_G.norm().item() + 3 * EPS32 * (M_prev.norm().item() + G.norm().item()) + EPS32 * U.norm().item()
    O = ns5_f64(U)
    e_O = ns5_input_float32_fro_bound(U, e_U)
    c = group["lr"] * math.sqrt(m * n)
    u = normuon_update(O, v_prev, b2, eps, c)
    e_u = jacobian_spectral_norm(normuon_update, O, 0, v_prev, b2, eps, c) * e_O + (m * n / 2 + 10) * EPS32 * u.norm().item()
    return 2 * (e_u + EPS32 * (W.double().abs() + u.abs()).norm().item()), u.norm().item()


def awbt_first_step_bounds(config: RunConfig) -> tuple[dict[str, float], dict[str, float]]:
    """``(bounds, model)`` for the logged row of step 1: ``bounds[column]`` bounds
    |batched - sequential| of that column, ``model[column]`` is its exact value (float64
    transcription of the optimizer's first step), so that each side can be checked
    against it too."""
    problem = awbt_problem(config)
    W = problem.W0.double()
    W_star = problem.W_star.double()
    d = problem.d
    m, n = W.shape
    G, e_G, R, e_R = awbt_gradient_bound(problem, W)
    L = 0.5 * problem.scale * (R * R).sum()
    # L = (scale / 2) sum R^2: R's error through 2 |R|, d^2 squares summed, two products.
    loss_side = problem.scale * (R.abs() * e_R).sum().item() + (d * d + 3) * EPS32 * L.item()
    bounds, model = {"loss": 2 * loss_side}, {"loss": L.item()}

    optimizer = build_task(config, device=torch.device("cpu"), dtype=torch.float32).optimizer
    group = optimizer.param_groups[0]
    kind, lr = type(optimizer).__name__, group["lr"]
    beta = group["momentum"] if "momentum" in group else group["beta1"]
    nesterov = group.get("nesterov", False)
    M = (1 - beta) * G
    U = G + beta * (M - G) if nesterov else M
    # Errors of the update are taken in the Frobenius norm (what update_fro and rel_dist
    # need; the per-entry worst case through NS5's Jacobian is ~40x looser here).
    # U = (1 - beta) G, Nesterov (1 - beta^2) G, from M = 0: G's error times that factor,
    # plus the EMA's rounding (lerp from 0: 2 roundings; Nesterov's M - G, beta (), G + (): 3).
    e_U = (1 - beta**2 if nesterov else 1 - beta) * e_G.norm().item() + (5 if nesterov else 2) * EPS32 * G.norm().item()
    if kind in ("Muon", "AMUSE"):
        lr_1 = lr * min(1.0, 1 / group["T0"]) if kind == "AMUSE" else lr  # AMUSE's warm-up lr_t
        adjust = math.sqrt(max(1.0, m / n)) if group["adjust_lr"] == "original" else 0.2 * math.sqrt(max(m, n))
        u = lr_1 * adjust * ns5_f64(U)
        e_u = lr_1 * adjust * ns5_input_float32_fro_bound(U, e_U)
    elif kind == "RMNP":  # row norm of n squares, sqrt, division: (n / 2 + 3) eps32, |D| <= 1
        adjust = lr * math.sqrt(max(1.0, m / n))
        u = adjust * row_normalize_f64(U)
        e_u = adjust * (jacobian_spectral_norm(row_normalize_f64, U) * e_U + math.sqrt(m) * (n / 2 + 3) * EPS32)
    elif kind in ("NorMuon", "TrasMuon"):
        # TrasMuon before T_w is calibrated NorMuon with rms_scale 1 (its M / (||M|| / sqrt(m n))
        # pre-scaling rounds once per entry, NS5 normalizes again).
        c = group.get("rms_scale", 1.0) * lr * math.sqrt(m * n)
        b2, eps = group["beta2"], group["eps"]
        v0 = torch.zeros(m, dtype=torch.float64)
        O = ns5_f64(U)
        e_O = ns5_input_float32_fro_bound(U, e_U + (EPS32 * U.norm().item() if kind == "TrasMuon" else 0.0))
        u = normuon_update(O, v0, b2, eps, c)
        # the update map's ~10 roundings per entry and its norm's m n / 2
        e_u = jacobian_spectral_norm(normuon_update, O, 0, v0, b2, eps, c) * e_O + (m * n / 2 + 10) * EPS32 * u.norm().item()
        O_hat = normuon_row_scaled(O, v0, b2, eps)
        eta = c / (O_hat.norm().item() + eps)
        model["eta_hat"] = eta
        # eta = c / ||O_hat||_F: relative error ||dO_hat||_F / ||O_hat||_F plus the norm's rounding
        eta_rel = (jacobian_spectral_norm(normuon_row_scaled, O, 0, v0, b2, eps) * e_O / O_hat.norm().item()
                   + (m * n / 2 + 4) * EPS32)
        bounds["eta_hat"] = 2 * eta_rel * eta
        if kind == "TrasMuon":
            beta_E, bias = group["beta_E"], group["ref_bias_correction"]
            r = energy_ratio_f64(M, beta_E, bias, eps)
            # per entry this time (r_max is a max over columns): M's error through the
            # Jacobian's infinity norm; E sums m squares; median, EMA from 0, bias
            # correction, + eps, division round once each
            e_M = (1 - beta) * e_G.max().item() + 2 * EPS32 * G.abs().max().item()
            e_r = (jacobian_inf_norm(energy_ratio_f64, M, 0, beta_E, bias, eps) * e_M + (m + 9) * EPS32 * r.max().item())
            model["r_max"], model["r_q95"] = r.max().item(), torch.quantile(r, 0.95).item()
            # max and quantile (linear interpolation of order statistics) are 1-Lipschitz in
            # the sup norm; the interpolation rounds <= 3 eps32 r_max
            bounds["r_max"] = 2 * e_r
            bounds["r_q95"] = 2 * (e_r + 3 * EPS32 * r.max().item())
    else:
        raise ValueError(f"no first-step model for {kind}")
    fro = u.norm().item()
    # |d ||u||_F| <= ||du||_F; the statistic sums m n squares and takes a square root
    bounds["update_fro"] = 2 * (e_u + (m * n / 2 + 2) * EPS32 * fro)
    bounds["update_rms"] = bounds["update_fro"] / math.sqrt(m * n) + 2 * EPS32 * fro / math.sqrt(m * n)
    model["update_fro"], model["update_rms"] = fro, fro / math.sqrt(m * n)
    # W1 = W0 - u (no decay in these studies: checked), rounding eps32 (|W0| + |u|) per entry
    assert group["weight_decay"] == 0.0
    e_W = e_u + EPS32 * (W.abs() + u.abs()).norm().item()
    D = W - u - W_star
    rel = (D.norm() / W_star.norm()).item()
    # the metric: subtraction, m n squares, two norms, division
    bounds["rel_dist"] = 2 * (e_W / W_star.norm().item() + (m * n + 6) * EPS32 * rel)
    model["rel_dist"] = rel
    return bounds, model
