import math

import numpy as np
import pytest
import torch

from muonlab.toyproblems import RiverValley, RiverValleyBatch

f64 = torch.float64


def _reference_loss(W, kind, Q, p, mu, lam, x_star, a, k):
    """Independent float64 transcription of SPEC 2.3 (numpy, loops)."""
    w = Q.T @ W.reshape(-1)
    x, y = w[:p], w[p:]
    f = sum(mu / 2 * (x[i] - x_star[i]) ** 2 for i in range(p))
    for j in range(len(y)):
        h = a * math.sin(k * x[j % p]) if kind == "curved" else 0.0
        f += lam[j] / 2 * (y[j] - h) ** 2
    return f


@pytest.mark.parametrize("kind", ["straight", "curved"])
@pytest.mark.parametrize("rotated", [False, True])
def test_loss_matches_transcription_and_grad_matches_autograd(kind, rotated):
    rv = RiverValley(3, 4, kind=kind, rotated=rotated, seed=2, dtype=f64)
    W = torch.randn(3, 4, dtype=f64, generator=torch.Generator().manual_seed(1)) * 3
    Q = np.eye(12) if rv.Q is None else rv.Q.numpy()
    lam = np.logspace(1, 2, 8)  # q = 12 - 4 walls in [10, 10 * kappa_wall]
    ref = _reference_loss(W.numpy(), kind, Q, 4, 0.1, lam, [5.0] * 4, 1.0, 0.5)
    assert rv.loss(W).item() == pytest.approx(ref, rel=1e-12)
    Wg = W.clone().requires_grad_(True)
    rv.loss(Wg).backward()
    torch.testing.assert_close(rv.grad(W), Wg.grad, rtol=1e-12, atol=1e-12)
    # minimum
    assert rv.loss(rv.W_min).item() == pytest.approx(0.0, abs=1e-20)
    assert rv.grad(rv.W_min).abs().max().item() < 1e-12
    # metrics
    x0_dist = math.sqrt(4 * 25.0)
    assert rv.river_progress(rv.W0).item() == pytest.approx(0.0, abs=1e-12)
    assert rv.river_progress(rv.W_min).item() == pytest.approx(x0_dist)
    assert rv.wall_energy(rv.W_min).item() == pytest.approx(0.0, abs=1e-20)
    x = (Q.T @ W.numpy().reshape(-1))[:4]
    assert rv.wall_energy(W).item() == pytest.approx(ref - 0.05 * np.sum((x - 5.0) ** 2), rel=1e-12)


@pytest.mark.parametrize("kind", ["straight", "curved"])
@pytest.mark.parametrize("rotated", [False, True])
def test_bases_orthonormal_and_complementary(kind, rotated):
    rv = RiverValley(3, 4, kind=kind, rotated=rotated, seed=5, dtype=f64)
    W = torch.randn(3, 4, dtype=f64, generator=torch.Generator().manual_seed(0))
    for at in (None, W):
        R, Wb = rv.river_basis(at), rv.wall_basis(at)
        assert R.shape == (12, 4) and Wb.shape == (12, 8)
        F = torch.cat([R, Wb], dim=1)
        torch.testing.assert_close(F.T @ F, torch.eye(12, dtype=f64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("rotated", [False, True])
def test_straight_wall_basis_is_exact_top_q_eigenspace(rotated):
    rv = RiverValley(2, 3, kind="straight", rotated=rotated, seed=3, dtype=f64)
    H = rv.hessian(rv.W_min)
    evals, evecs = torch.linalg.eigh(H)
    top = evecs[:, -rv.q:]
    Wb = rv.wall_basis()
    torch.testing.assert_close(top @ top.T, Wb @ Wb.T, atol=1e-10, rtol=0)
    expected = torch.cat([torch.full((3,), 0.1, dtype=f64), torch.logspace(1, 2, 3, dtype=f64)])
    torch.testing.assert_close(evals, expected, atol=1e-10, rtol=0)
    if not rotated:  # coordinate split: walls are the last q row-major entries
        torch.testing.assert_close(Wb @ Wb.T, torch.diag(torch.tensor([0.0] * 3 + [1.0] * 3, dtype=f64)))


@pytest.mark.parametrize("rotated", [False, True])
def test_curved_wall_basis_close_to_top_q_eigenspace_at_minimum(rotated):
    rv = RiverValley(2, 3, kind="curved", rotated=rotated, seed=4, dtype=f64)
    evals, evecs = torch.linalg.eigh(rv.hessian(rv.W_min))
    top = evecs[:, -rv.q:]
    # sines of principal angles between the subspaces (Davis-Kahan: O(mu |a k| / lambda))
    sines = torch.linalg.svdvals(top.T @ rv.river_basis())
    assert sines.max().item() < 0.02
    # the curvature along the river tangent is mu-scale, across the walls lambda-scale
    assert evals[: rv.p].max().item() < 0.2 and evals[rv.p:].min().item() > 9.0
    # a straight basis (the coordinate split) is *not* the curved eigenspace: the test can fail
    coord = torch.eye(6, dtype=f64)[:, :3] if rv.Q is None else rv.Q[:, :3]
    assert torch.linalg.svdvals(top.T @ coord).max().item() > 0.1


def test_rotation_is_seeded_orthogonal():
    a, b = RiverValley(2, 3, rotated=True, seed=1, dtype=f64), RiverValley(2, 3, rotated=True, seed=1, dtype=f64)
    c = RiverValley(2, 3, rotated=True, seed=2, dtype=f64)
    assert torch.equal(a.Q, b.Q) and not torch.equal(a.Q, c.Q)
    torch.testing.assert_close(a.Q.T @ a.Q, torch.eye(6, dtype=f64), atol=1e-13, rtol=0)
    assert RiverValley(2, 3).Q is None


def test_noise_kinds_statistics_and_determinism():
    W = torch.zeros(8, 8, dtype=f64)
    for noise in ("gaussian", "anisotropic", "student_t"):
        rv = RiverValley(8, 8, rotated=False, noise=noise, noise_std=0.5, seed=3, dtype=f64)
        xi = torch.stack([rv.gradient_noise(t) for t in range(1, 301)])
        assert torch.equal(rv.stochastic_grad(W + 1, 5), rv.grad(W + 1) + xi[4])
        assert torch.equal(xi[4], RiverValley(8, 8, noise=noise, noise_std=0.5, seed=3, dtype=f64).gradient_noise(5))
        assert not torch.equal(rv.gradient_noise(5), rv.gradient_noise(6))
        flat = xi.reshape(300, -1)
        river_std, wall_std = flat[:, :8].std().item(), flat[:, 8:].std().item()
        factor = 4.0 if noise == "anisotropic" else 1.0
        assert river_std == pytest.approx(0.5, rel=0.12)
        assert wall_std == pytest.approx(0.5 * factor, rel=0.12)
    t_noise = torch.stack([RiverValley(8, 8, noise="student_t", noise_std=1.0, dtype=f64).gradient_noise(t)
                           for t in range(1, 301)])
    kurt = ((t_noise - t_noise.mean()) ** 4).mean() / t_noise.var() ** 2
    assert kurt.item() > 4.5  # heavy tails (Gaussian: 3)
    assert torch.equal(RiverValley(2, 2).gradient_noise(1), torch.zeros(2, 2))


def test_stochastic_loss_gradient_equals_stochastic_grad():
    rv = RiverValley(2, 3, kind="curved", rotated=True, noise="gaussian", noise_std=1.0, dtype=f64)
    W = torch.randn(2, 3, dtype=f64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    rv.stochastic_loss(W, 7).backward()
    torch.testing.assert_close(W.grad, rv.stochastic_grad(W.detach(), 7), rtol=1e-12, atol=1e-12)


def test_rotated_noise_anisotropy_follows_walls():
    rv = RiverValley(4, 4, rotated=True, noise="anisotropic", noise_std=1.0, seed=1, dtype=f64)
    xi = torch.stack([rv.gradient_noise(t).reshape(-1) for t in range(1, 401)])
    wall_var = (xi @ rv.wall_basis()).var(0).mean().item()
    river_var = (xi @ rv.river_basis()).var(0).mean().item()
    assert wall_var / river_var == pytest.approx(16.0, rel=0.3)


@pytest.mark.parametrize("kind", ["straight", "curved"])
def test_batch_slices_equal_unbatched(kind):
    seeds = [0, 5, 9]
    kw = dict(kind=kind, rotated=True, noise="gaussian", noise_std=0.3)
    batch = RiverValleyBatch.from_seeds(seeds, 3, 4, **kw)
    W = torch.randn(3, 3, 4, generator=torch.Generator().manual_seed(2))
    assert batch.W0.shape == (3, 3, 4) and batch.seeds == tuple(seeds)
    loss, grad, noise = batch.loss(W), batch.grad(W), batch.gradient_noise(4)
    prog, wall = batch.river_progress(W), batch.wall_energy(W)
    for i, s in enumerate(seeds):
        rv = RiverValley(3, 4, seed=s, **kw)
        assert torch.equal(batch.Q[i], rv.Q) and torch.equal(noise[i], rv.gradient_noise(4))
        bounds = _float32_evaluation_bounds(rv, W[i])
        torch.testing.assert_close(loss[i], rv.loss(W[i]), rtol=0, atol=bounds["loss"])
        assert ((grad[i] - rv.grad(W[i])).double().abs() <= bounds["grad"]).all()
        torch.testing.assert_close(prog[i], rv.river_progress(W[i]), rtol=0, atol=bounds["progress"])
        torch.testing.assert_close(wall[i], rv.wall_energy(W[i]), rtol=0, atol=bounds["wall"])
    with pytest.raises(ValueError, match="share"):
        RiverValleyBatch([RiverValley(3, 4), RiverValley(3, 4, mu=0.2)])


@pytest.mark.parametrize("kw, field", [({"kind": "wavy"}, "kind"), ({"p": 6}, "p"), ({"p": 0}, "p"),
                                       ({"mu": 0.0}, "mu"), ({"kappa_wall": 0.5}, "kappa_wall"),
                                       ({"noise": "pink"}, "noise"), ({"noise_std": -1.0}, "noise_std"),
                                       ({"x_star": [1.0, 2.0]}, "x_star"), ({"rotated": 1}, "rotated")])
def test_bad_input(kw, field):
    with pytest.raises(ValueError, match=field):
        RiverValley(2, 3, **kw)
    with pytest.raises(ValueError, match="m \\* n"):
        RiverValley(1, 1)


def _float32_evaluation_bounds(rv: RiverValley, W: torch.Tensor) -> dict:
    """Bounds on |batched - single| of the float32 loss, gradient (per entry), river
    progress and wall energy, which differ only in summation order: each side is within
    the bound below of the exact value at the same float32 W, hence twice it.

    Per side (eps = 2**-24, first order, evaluated in float64): w = vec(W) Q sums m n
    products, dw <= m n eps |vec| |Q|; x - x* and r = y - a sin(k x) (sin, two products,
    one difference) add dr <= dy + |a k cos| (dx + eps |k x|) + 4 eps (|a| + |r|); the
    loss and wall energy sum p + q squared terms, <= sum |term'| d + (p + q + 3) eps f;
    the gradient's lam r, slope a k cos(k x) and products, the scatter-add (<= q + 1 terms
    per entry) and the back-rotation Q g (m n products) likewise; norms as sums of squares.
    """
    eps, mn = 2.0**-24, rv.m * rv.n
    Q = torch.eye(mn, dtype=f64) if rv.Q is None else rv.Q.double()
    vec = W.double().reshape(mn)
    w = vec @ Q
    dw = mn * eps * (vec.abs() @ Q.abs())
    x, y, dx, dy = w[: rv.p], w[rv.p:], dw[: rv.p], dw[rv.p:]
    lam, xs, cp = rv.lam.double(), rv.x_star.double(), rv.coupling
    curved = rv.kind != "straight"
    kx = rv.k * x[cp] if curved else torch.zeros_like(y)
    h = rv.a * torch.sin(kx) if curved else torch.zeros_like(y)
    slope = rv.a * rv.k * torch.cos(kx) if curved else torch.zeros_like(y)
    r, d = y - h, x - xs
    dr = dy + slope.abs() * (dx[cp] + eps * kx.abs()) + 4 * eps * (h.abs() + r.abs())
    dd = dx + eps * d.abs()
    wall = 0.5 * (lam * r * r).sum()
    d_wall = (lam * r.abs() * dr).sum() + (len(r) + 3) * eps * wall
    loss = 0.5 * rv.mu * (d * d).sum() + wall
    d_loss = rv.mu * (d.abs() * dd).sum() + d_wall + (len(d) + 3) * eps * loss
    # gradient: gy = lam r; gx = mu d - scatter(gy * slope); G = Q g
    gy, term = lam * r, lam * r * slope
    d_gy = lam * dr + eps * gy.abs()
    d_slope = (rv.a * rv.k * rv.k * torch.sin(kx)).abs() * (dx[cp] + eps * kx.abs()) + 3 * eps * slope.abs()
    d_term = slope.abs() * d_gy + gy.abs() * d_slope + eps * term.abs()
    d_gx = rv.mu * dd + eps * rv.mu * d.abs() + torch.zeros_like(x).index_add(0, cp, d_term + (len(r) + 2) * eps * term.abs())
    g = torch.cat([rv.mu * d - torch.zeros_like(x).index_add(0, cp, term), gy])
    dg = torch.cat([d_gx + (len(r) + 2) * eps * rv.mu * d.abs(), d_gy])
    d_grad = (Q.abs() @ dg + mn * eps * (Q.abs() @ g.abs())).reshape(rv.m, rv.n)
    # progress = ||x0 - x*|| - ||x - x*||: each norm off by ||d d||_2 + (p / 2 + 2) eps ||d||
    x0 = (rv.W0.double().reshape(mn) @ Q)[: rv.p]
    dx0 = (mn * eps * (rv.W0.double().reshape(mn).abs() @ Q.abs()))[: rv.p]
    d0 = x0 - xs
    d_prog = sum(torch.linalg.vector_norm(dv + eps * dvec.abs()).item() + (rv.p / 2 + 2) * eps * dvec.norm().item()
                 for dvec, dv in ((d0, dx0), (d, dx))) + eps * abs(d0.norm().item() - d.norm().item())
    return {"loss": 2 * d_loss.item(), "grad": 2 * d_grad, "progress": 2 * d_prog, "wall": 2 * d_wall.item()}
