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


def _f64(x):
    return x.detach().double()


def _dual_error(X, s) -> float:
    """Bound on |float32 ||X||_* - ||X||_*| for float32 matrices X: min(m, n) singular
    values each within _svd_error, the scale's and the stacked sum's roundings."""
    dual = _dual(X, s)
    return sum(si * min(x.shape) * _svd_error(x) for x, si in zip(X, s)) + (len(X) + 2) * EPS32 * dual


def _diff_dual_error(X, s) -> float:
    """As _dual_error for X = A - B formed in float32: the subtraction's rounding E
    (|E| <= eps32 |X| per entry) moves the nuclear norm by <= ||E||_nuc <= sqrt(min(m, n)) eps32 ||X||_F."""
    return _dual_error(X, s) + sum(si * math.sqrt(min(x.shape)) * EPS32 * x.norm().item() for x, si in zip(X, s))


def _diff_distance_error(X, s) -> float:
    """Bound on the float32 D of X = A - B formed in float32: the subtraction's rounding
    (||E||_2 <= ||E||_F <= eps32 ||X||_F), the SVD's (_svd_error), the division by s_i."""
    return max((EPS32 * x.norm().item() + _svd_error(x)) / si for x, si in zip(X, s)) + 2 * EPS32 * _D(X, [0 * x for x in X], s)


def test_df_muon():
    """Float32 DF-Muon vs the float64 transcription by teacher forcing: before each step
    the optimizer's own float32 state (W_t, momentum, W_0, N, S, d, L, G_{t-1}, W_{t-1}) is
    read, the transcription makes one step from exactly that state in float64, and the
    optimizer's result is compared within a ONE-STEP first-order bound (no feedback over
    steps to bound):
      O: with a = max(|M|, |G|) per matrix, the momentum lerp rounds <= 2 eps32 a (its
         difference scaled by the weight 0.1, the product, the sum, the weight's float32
         rounding), Nesterov's lerp as much again plus the first's: <= 4 eps32 a, taken as
         10 eps32 a; through NS5 (ns5_input_float32_bound) -> the per-entry bound dO;
      d_hat = N / ||S||_*: relative error ||S||_*'s (_dual_error) + eps32; min/max are
         1-Lipschitz, rho d_{t-1} rounds by eps32 -> d's bound; eta_bar = min(eta_max, alpha d);
      L: the secant's numerator (_diff_dual_error) and denominator (_diff_distance_error)
         relative errors + eps32, then the EMA scales it by 0.1 and rounds <= 4 eps32 max(|L|);
      <G, s O>: |G| dO summed plus the m n products' rounding;
      candidates c_j = eta_bar rho^-j: rho^-j rounds by eps32, so dc_j <= rho^-j d eta_bar + 2 eps32 c_j;
      model f_j = -c_j <G, sO> + lam L c_j^2 / 2: df_j from dc_j, d<G, sO>, dL + 6 eps32 |terms|.
    The argmin: when the float64 best candidate beats the second by more than the two
    candidates' bounds df summed, float32 must pick it and eta_t agrees within its dc bound;
    otherwise (no margin: a near tie the rounding may break either way) eta_t may be any
    candidate whose f is within the bounds of the best (counted; asserted rare).
    W_{t+1} = (1 - eta wd) W - eta s O: eta s dO + (s |O| + wd |W|) d eta + 4 eps32 (|W| + eta s |O|)
    (1 - eta wd, the product with W, eta s, its product with O, the difference), asserted
    below a quarter of the step's mean move so that it resolves a wrong step.
    Sizes (seed 50, CPU): W's bound ~1.2e-6 vs ~1.2e-7 observed (a step moves ~2.5e-4);
    eta_t's ~5e-9 vs <= 1e-10; L_t's ~0.07 vs ~1e-3 (L ~5e4); one near tie (step 6)."""
    W0, grads = _setup(50)
    # A common mean in the gradients: W makes progress, N grows and d_hat takes over from d_0;
    # alpha = 8 makes d_hat outgrow rho d_{t-1} first (the cap) and eta_bar reach eta_max.
    mean = [torch.randn(s, generator=torch.Generator().manual_seed(99 + i)) for i, s in enumerate(SHAPES)]
    grads = [[g + m for g in gs] for gs, m in zip(grads, mean)]
    s, beta, eta_max, alpha, rho, lam, M, wd = _scales(), 0.9, 0.02, 8.0, 2.0, 1.0, 8, 0.01
    params = [torch.nn.Parameter(w.clone()) for w in W0]
    opt = build("df-muon", params, eta_max=eta_max, alpha=alpha, rho=rho, lam=lam, M=M, momentum=beta,
                weight_decay=wd)
    etas, picks, ties, margins, branches = [], [], 0, [], set()
    for t in range(1, len(grads[0]) + 1):
        st = [opt.state[p] for p in params]
        G = [g[t - 1].double() for g in grads]
        W = [_f64(p) for p in params]
        if t == 1:
            Mb, S_sum, N = [torch.zeros_like(w) for w in W], [torch.zeros_like(w) for w in W], 0.0
            d_prev = torch.tensor(1e-4, dtype=torch.float32).item()
        else:
            Mb, S_sum = [_f64(x["momentum_buffer"]) for x in st], [_f64(x["S"]) for x in st]
            N, d_prev = st[0]["group_N"].item(), st[0]["group_d"].item()
            G_prev, W_prev, L_prev = [_f64(x["G_prev"]) for x in st], [_f64(x["W_prev"]) for x in st], st[0]["group_L"].item()
        # direction
        Us = [g + beta * ((beta * m + (1 - beta) * g) - g) for m, g in zip(Mb, G)]
        O = [ns5_f64(u) for u in Us]
        dO = [ns5_input_float32_bound(u, 10 * EPS32 * max(m.abs().max().item(), g.abs().max().item()))
              for u, m, g in zip(Us, Mb, G)]
        # d_t, eta_bar
        dual_S = _dual(S_sum, s)
        d_hat = N / dual_S if dual_S > 0 else 0.0
        d_hat_err = abs(d_hat) * (_dual_error(S_sum, s) / dual_S + EPS32) if dual_S > 0 else 0.0
        d = min(rho * d_prev, max(d_prev, d_hat))
        branches.add("d_prev" if d == d_prev else "cap" if d == rho * d_prev else "d_hat")
        d_err = d_hat_err + EPS32 * d
        eta_bar = min(eta_max, alpha * d)
        branches.add("eta_max") if eta_bar == eta_max else None
        eta_bar_err = alpha * d_err + EPS32 * eta_bar
        if t == 1:
            eta, eta_err = eta_bar, eta_bar_err
        else:
            dG, dW = [a - b for a, b in zip(G, G_prev)], [a - b for a, b in zip(W, W_prev)]
            num, den = _dual(dG, s), _D(dW, [0 * w for w in dW], s)
            assert den > 1e-12  # the floor is not active: the secant's relative error below holds
            secant = num / den
            secant_err = secant * (_diff_dual_error(dG, s) / num + _diff_distance_error(dW, s) / den + EPS32)
            L = secant if t == 2 else 0.9 * L_prev + 0.1 * secant
            L_err = secant_err * (1.0 if t == 2 else 0.1) + 4 * EPS32 * max(abs(L), abs(secant), abs(L_prev))
            gdot = sum(si * (g * o).sum().item() for g, o, si in zip(G, O, s))
            gdot_err = sum(si * ((g.abs() * e).sum().item() + (g.numel() + 1) * EPS32 * (g * o).abs().sum().item())
                           for g, o, si, e in zip(G, O, s, dO)) + (len(G) + 2) * EPS32 * abs(gdot)
            cands = [eta_bar * rho ** (-j) for j in range(M)]
            c_err = [rho ** (-j) * eta_bar_err + 2 * EPS32 * c for j, c in enumerate(cands)]
            f = [-c * gdot + 0.5 * lam * L * c * c for c in cands]
            f_err = [abs(gdot) * dc + c * gdot_err + 0.5 * lam * (c * c * L_err + 2 * c * L * dc)
                     + 6 * EPS32 * (c * abs(gdot) + 0.5 * lam * L * c * c) for c, dc in zip(cands, c_err)]
            order = sorted(range(M), key=lambda j: f[j])
            best, second = order[0], order[1]
            margins.append((f[second] - f[best]) / (f_err[best] + f_err[second]))
            if f[second] - f[best] > f_err[best] + f_err[second]:
                allowed = [best]
            else:  # no margin: a near tie that float32's rounding may break either way
                ties += 1
                allowed = [j for j in range(M) if f[j] - f[best] <= f_err[j] + f_err[best]]
        for p, g in zip(params, grads):
            p.grad = g[t - 1].clone()
        opt.step()
        stats = opt.last_stats()
        got_eta = stats["eta_t"]
        if t > 1:
            assert stats["L_t"] == pytest.approx(L, abs=L_err)  # bound: the secant's, above
            hits = [j for j in allowed if abs(got_eta - cands[j]) <= c_err[j]]
            assert hits, (t, got_eta, [cands[j] for j in allowed])
            eta, eta_err = cands[hits[0]], c_err[hits[0]]
            picks.append(hits[0])
        etas.append(eta)
        assert stats["d_t"] == pytest.approx(d, abs=d_err)  # bound: ||S||_*'s, above
        assert stats["eta_bar"] == pytest.approx(eta_bar, abs=eta_bar_err)  # bound: d's, above
        assert got_eta == pytest.approx(eta, abs=eta_err)  # bound: the candidate's, above
        W_new = [(1 - eta * wd) * w - eta * si * o for w, si, o in zip(W, s, O)]
        for a, w, b, si, o, e in zip(params, W, W_new, s, O, dO):
            bound = (eta * si * e + (si * o.abs().max().item() + wd * w.abs().max().item()) * eta_err
                     + 4 * EPS32 * (w.abs().max().item() + eta * si * o.abs().max().item()))
            assert bound < 0.25 * eta * si * o.abs().mean().item()  # the bound resolves one step's move
            torch.testing.assert_close(_f64(a), b, rtol=0, atol=bound)
        # The state the next step reads (teacher forcing alone would not see it go wrong):
        # G_{t-1}, W_{t-1} copies are exact; M = beta M + (1 - beta) G rounds <= 3 eps32 max|.|
        # per entry; S + eta G: |G| d eta + 2 eps32 (|S| + eta |G|); N + eta <G, W_0 - W>: the
        # sum's m n + 2 roundings of |G| |W_0 - W|, times eta, plus |<.>| d eta + 2 eps32 (|N| + ..).
        st, progress, progress_err = [opt.state[p] for p in params], 0.0, 0.0
        for x, g, w, m, S_i in zip(st, G, W, Mb, S_sum):
            assert torch.equal(_f64(x["G_prev"]), g) and torch.equal(_f64(x["W_prev"]), w)
            bound = 3 * EPS32 * max(m.abs().max().item(), g.abs().max().item())
            torch.testing.assert_close(_f64(x["momentum_buffer"]), beta * m + (1 - beta) * g, rtol=0, atol=bound)
            bound = g.abs().max().item() * eta_err + 2 * EPS32 * (S_i.abs().max().item() + eta * g.abs().max().item())
            torch.testing.assert_close(_f64(x["S"]), S_i + eta * g, rtol=0, atol=bound)
            w0 = _f64(x["W0"])
            progress += (g * (w0 - w)).sum().item()
            progress_err += (g.numel() + 2) * EPS32 * (g * (w0 - w)).abs().sum().item()
        N_err = abs(progress) * eta_err + eta * progress_err + 2 * EPS32 * (abs(N) + eta * abs(progress))
        assert st[0]["group_N"].item() == pytest.approx(N + eta * progress, abs=N_err)  # bound: as derived above
        assert torch.equal(_f64(st[0]["W0"]), _f64(W0[0]))
    assert ties <= 2  # near ties are rare: the argmin is checked exactly on most steps
    assert branches == {"d_prev", "cap", "d_hat", "eta_max"}  # every branch of d_t and eta_bar ran
    assert len(set(picks)) > 1 and len(set(round(e, 12) for e in etas)) > 2  # the search picked different candidates
