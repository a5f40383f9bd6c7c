"""DA-/SC-/DF-Muon ([proposal] rules) against float64 transcriptions of SPEC-optim."""

import math

import pytest
import torch

from muonlab.optim import build

from .reference import EPS32, ema_float32_error, gradient_sequence, ns5_f64, ns5_input_float32_bound

SHAPES = [(10, 6), (6, 8)]


def _setup(seed):
    W0 = [torch.randn(s, generator=torch.Generator().manual_seed(seed + i)) for i, s in enumerate(SHAPES)]
    grads = [gradient_sequence(s, 10, seed=seed + 10 + i) for i, s in enumerate(SHAPES)]
    return W0, grads


def _muon_dirs(Ms, Gs, beta, Us=None):
    """NS5 of the Nesterov momentum per matrix (updates Ms; the momenta U into Us)."""
    out = []
    for i, G in enumerate(Gs):
        Ms[i] = beta * Ms[i] + (1 - beta) * G
        U = G + beta * (Ms[i] - G)
        if Us is not None:
            Us.append(U)
        out.append(ns5_f64(U))
    return out


def _svd_error(X: torch.Tensor) -> float:
    """Bound on each float32 singular value of X (a matrix norm ord=2 or "nuc" term): a
    backward-stable SVD returns the exact ones of X + E, ||E||_2 <= m n eps32 ||X||_2
    (generous constant), and Weyl's inequality moves each by <= ||E||_2."""
    m, n = X.shape
    return m * n * EPS32 * torch.linalg.matrix_norm(X, ord=2).item()


def _direction_errors(Us, grads) -> list[float]:
    """Per-entry bound on |O32 - O| per matrix: the Nesterov momentum's rounding through
    NS5's Jacobian plus NS5's own (reference.ns5_input_float32_bound), fixed gradients."""
    return [ns5_input_float32_bound(U, ema_float32_error(max(g.abs().max().item() for g in gs), 0.9, True))
            for U, gs in zip(Us, grads)]


def _scales():
    return [math.sqrt(max(1.0, m / n)) for m, n in SHAPES]


def _D(A, B, s):
    return max(torch.linalg.matrix_norm(a - b, ord=2).item() / si for a, b, si in zip(A, B, s))


def _dual(G, s):
    return sum(si * torch.linalg.matrix_norm(g, ord="nuc").item() for g, si in zip(G, s))


def _run(name, W0, grads, **hp):
    params = [torch.nn.Parameter(w.clone()) for w in W0]
    opt = build(name, params, **hp)
    for t in range(len(grads[0])):
        for p, g in zip(params, grads):
            p.grad = g[t].clone()
        opt.step()
        yield [p.detach().double() for p in params], opt.last_stats()


def test_da_muon():
    """Float32 DA-Muon vs the transcription with a first-order float32 bound: per step,
    O's error (ns5_input_float32_bound); the step size eta_t = min(eta_max, r_t / sqrt(t + 1))
    depends on W through r_t = max_i D(W_i, W_0), and D moves by <= ||dW||_F / s (spectral
    norm, 1-Lipschitz) plus its SVD's and the subtraction's rounding; so
    dW_t <= dW_{t-1} (1 - eta wd) + eta s dO + (s |O| + wd |W|) d eta_t + rounding. The
    feedback through eta makes the bound grow; W is compared while one step's share of
    the bound stays below a quarter of that step's move (asserted for the first 4 steps)."""
    # Zero init: float32 cannot resolve distances of ~1e-6 |W_0| (r_eps) around a random W_0.
    W0, grads = _setup(30)
    W0 = [torch.zeros_like(w) for w in W0]
    s, beta, eta_max, wd = _scales(), 0.9, 0.5, 0.01
    W = [w.double() for w in W0]
    Ms = [torch.zeros_like(w) for w in W]
    r_eps = 1e-6 * (1 + _D(W, [torch.zeros_like(w) for w in W], s))
    r_max = 0.0
    w_err, r_err, compared, resolved = [0.0] * len(SHAPES), 0.0, 0, True
    for t, (got, stats) in enumerate(_run("da-muon", W0, grads, eta_max=eta_max, momentum=beta, weight_decay=wd), start=1):
        Us = []
        O = _muon_dirs(Ms, [g[t - 1].double() for g in grads], beta, Us)
        dO = _direction_errors(Us, grads)
        D_t = _D(W, [w.double() for w in W0], s)
        # D's error from W's (Frobenius >= spectral), the subtraction and the SVD
        D_err = max((math.sqrt(w.numel()) * e + EPS32 * w.norm().item() + _svd_error(w)) / si
                    for w, e, si in zip(W, w_err, s))
        if D_t >= r_max:
            r_max, r_err = D_t, max(r_err, D_err)
        eta = min(eta_max, max(r_eps, r_max) / math.sqrt(t + 1))
        eta_err = r_err / math.sqrt(t + 1) + 2 * EPS32 * eta + EPS32 * r_eps
        shares = []
        for i, (w, si, o) in enumerate(zip(W, s, O)):
            share = eta * si * dO[i] + (si * o.abs().max().item() + wd * w.abs().max().item()) * eta_err
            w_err[i] = w_err[i] * (1 - eta * wd) + share + 3 * EPS32 * (w.abs().max().item() + eta * si * o.abs().max().item())
            shares.append(share / (eta * si * o.abs().mean().item()))
        W = [(1 - eta * wd) * w - eta * si * o for w, si, o in zip(W, s, O)]
        resolved = resolved and max(shares) < 0.25  # else the bound no longer resolves a step
        if not resolved:
            continue
        compared += 1
        assert stats["eta_t"] == pytest.approx(eta, abs=eta_err)
        for a, b, e in zip(got, W, w_err):
            torch.testing.assert_close(a, b, rtol=0, atol=e)
    assert compared >= 4
    assert r_max > 5 * r_eps  # r_t grew with the distance travelled


def test_sc_muon():
    """Float32 SC-Muon vs the transcription with a first-order float32 bound. The step
    size depends on G and O only (fixed gradients: no feedback through W), so the errors
    add up linearly: kappa = <G, s O> / ||G||_* moves by the pairing's error (|G| dO and its
    m n products' rounding) over ||G||_* plus |kappa| times ||G||_*'s relative error (each
    singular value within _svd_error); eta_t = eta_max clip(kappa, 0, 1) by eta_max times
    that; W's error per step is eta s dO + s |O| d eta + rounding."""
    W0, grads = _setup(40)
    s, beta, eta_max = _scales(), 0.9, 0.05
    W = [w.double() for w in W0]
    Ms = [torch.zeros_like(w) for w in W]
    w_err = [0.0] * len(SHAPES)
    for t, (got, stats) in enumerate(_run("sc-muon", W0, grads, eta_max=eta_max, momentum=beta), start=1):
        G = [g[t - 1].double() for g in grads]
        Us = []
        O = _muon_dirs(Ms, G, beta, Us)
        dO = _direction_errors(Us, grads)
        num = sum(si * (g * o).sum().item() for g, o, si in zip(G, O, s))
        dual = _dual(G, s)
        kappa = num / dual
        assert -1.0 - 1e-6 <= kappa <= 1.2
        d_num = sum(si * ((g.abs() * e).sum().item() + (g.numel() + 1) * EPS32 * (g * o).abs().sum().item())
                    for g, o, si, e in zip(G, O, s, dO))
        d_dual = sum(si * min(g.shape) * _svd_error(g) for g, si in zip(G, s)) + (len(G) + 1) * EPS32 * dual
        d_kappa = d_num / dual + abs(num) * d_dual / dual**2 + 2 * EPS32 * abs(kappa)
        eta = eta_max * min(max(kappa, 0.0), 1.0)
        d_eta = eta_max * d_kappa + EPS32 * eta
        for i, (w, si, o) in enumerate(zip(W, s, O)):
            share = eta * si * dO[i] + si * o.abs().max().item() * d_eta
            w_err[i] += share + 2 * EPS32 * (w.abs().max().item() + eta * si * o.abs().max().item())
            assert share < 0.25 * max(eta, 1e-3 * eta_max) * si * o.abs().mean().item()  # << one step's move
        W = [w - eta * si * o for w, si, o in zip(W, s, O)]
        assert stats["kappa_t"] == pytest.approx(kappa, abs=d_kappa)
        for a, b, e in zip(got, W, w_err):
            torch.testing.assert_close(a, b, rtol=0, atol=e)


def test_df_muon():
    # Tolerances (rel 1e-4 on eta_t, d_t; atol 1e-5 on W): empirical, NOT derived. DF-Muon's
    # step size depends on W through the secant L (a distance in its denominator) and N,
    # and its argmin over the candidates is discontinuous: a bound needs the feedback
    # terms of test_da_muon plus a decision margin between the best two candidates' values
    # (not done; docs/reproducibility.md lists it).
    W0, grads = _setup(50)
    s, beta, eta_max, alpha, rho, lam, M = _scales(), 0.9, 0.05, 1.0, 2.0, 1.0, 8
    W = [w.double() for w in W0]
    W_init = [w.clone() for w in W]
    Ms = [torch.zeros_like(w) for w in W]
    N, S_sum, d, L = 0.0, [torch.zeros_like(w) for w in W], 1e-4, None
    G_prev = W_prev = None
    etas = []
    for t, (got, stats) in enumerate(_run("df-muon", W0, grads, eta_max=eta_max, alpha=alpha, rho=rho, lam=lam, M=M, momentum=beta), start=1):
        G = [g[t - 1].double() for g in grads]
        O = _muon_dirs(Ms, G, beta)
        dual_S = _dual(S_sum, s)
        d_hat = N / dual_S if dual_S > 0 else 0.0
        d = min(rho * d, max(d, d_hat))
        eta_bar = min(eta_max, alpha * d)
        if t == 1:
            eta = eta_bar
        else:
            secant = _dual([a - b for a, b in zip(G, G_prev)], s) / max(_D(W, W_prev, s), 1e-12)
            L = secant if L is None else 0.9 * L + 0.1 * secant
            gdot = sum(si * (g * o).sum().item() for g, o, si in zip(G, O, s))
            cands = [eta_bar * rho ** (-j) for j in range(M)]
            eta = min(cands, key=lambda e: -e * gdot + 0.5 * lam * L * e * e)
        N += eta * sum((g * (w0 - w)).sum().item() for g, w0, w in zip(G, W_init, W))
        S_sum = [a + eta * g for a, g in zip(S_sum, G)]
        G_prev, W_prev = G, [w.clone() for w in W]
        W = [w - eta * si * o for w, si, o in zip(W, s, O)]
        etas.append(eta)
        assert stats["eta_t"] == pytest.approx(eta, rel=1e-4)
        assert stats["d_t"] == pytest.approx(d, rel=1e-4)
        for a, b in zip(got, W):  # empirical, NOT derived (see the top of this test)
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert len(set(round(e, 12) for e in etas)) > 2  # the search picked different candidates
