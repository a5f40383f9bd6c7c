"""DA-/SC-/DF-Muon ([proposal] rules) against float64 transcriptions of SPEC-optim."""

import math

import pytest
import torch

from muonlab.optim import build

from .reference import gradient_sequence, ns5_f64

SHAPES = [(10, 6), (6, 8)]


def _setup(seed):
    W0 = [torch.randn(s, generator=torch.Generator().manual_seed(seed + i)) for i, s in enumerate(SHAPES)]
    grads = [gradient_sequence(s, 10, seed=seed + 10 + i) for i, s in enumerate(SHAPES)]
    return W0, grads


def _muon_dirs(Ms, Gs, beta):
    out = []
    for i, G in enumerate(Gs):
        Ms[i] = beta * Ms[i] + (1 - beta) * G
        out.append(ns5_f64(G + beta * (Ms[i] - G)))
    return out


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
    # Zero init: float32 cannot resolve distances of ~1e-6 |W_0| (r_eps) around a random W_0.
    W0, grads = _setup(30)
    W0 = [torch.zeros_like(w) for w in W0]
    s, beta, eta_max, wd = _scales(), 0.9, 0.5, 0.01
    W = [w.double() for w in W0]
    Ms = [torch.zeros_like(w) for w in W]
    r_eps = 1e-6 * (1 + _D(W, [torch.zeros_like(w) for w in W], s))
    r_max = 0.0
    for t, (got, stats) in enumerate(_run("da-muon", W0, grads, eta_max=eta_max, momentum=beta, weight_decay=wd), start=1):
        O = _muon_dirs(Ms, [g[t - 1].double() for g in grads], beta)
        r_max = max(r_max, _D(W, [w.double() for w in W0], s))
        eta = min(eta_max, max(r_eps, r_max) / math.sqrt(t + 1))
        W = [(1 - eta * wd) * w - eta * si * o for w, si, o in zip(W, s, O)]
        assert stats["eta_t"] == pytest.approx(eta, rel=1e-4)
        for a, b in zip(got, W):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert r_max > 5 * r_eps  # r_t grew with the distance travelled


def test_sc_muon():
    W0, grads = _setup(40)
    s, beta, eta_max = _scales(), 0.9, 0.05
    W = [w.double() for w in W0]
    Ms = [torch.zeros_like(w) for w in W]
    for t, (got, stats) in enumerate(_run("sc-muon", W0, grads, eta_max=eta_max, momentum=beta), start=1):
        G = [g[t - 1].double() for g in grads]
        O = _muon_dirs(Ms, G, beta)
        kappa = sum(si * (g * o).sum().item() for g, o, si in zip(G, O, s)) / _dual(G, s)
        assert -1.0 - 1e-6 <= kappa <= 1.2
        eta = eta_max * min(max(kappa, 0.0), 1.0)
        W = [w - eta * si * o for w, si, o in zip(W, s, O)]
        assert stats["kappa_t"] == pytest.approx(kappa, rel=1e-4, abs=1e-6)
        for a, b in zip(got, W):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_df_muon():
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
        for a, b in zip(got, W):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert len(set(round(e, 12) for e in etas)) > 2  # the search picked different candidates
