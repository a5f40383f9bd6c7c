import math

import numpy as np
import pytest
import torch

from muonlab.toyproblems import AWBT, AWBTBatch

f64 = torch.float64


def test_hessian_eigenvalues_are_products_of_squared_spectra():
    p = AWBT(d=6, kappa=1e4, seed=1, dtype=f64)
    s = np.logspace(0, -1, 6)  # -log10(1e4)/4 = -1
    expected = np.sort(np.outer(s**2, s**2).ravel())[::-1]
    lam, vecs = p.hessian_eigenpairs()
    np.testing.assert_allclose(lam.numpy(), expected, rtol=1e-13)
    # and they are the eigenvalues of the dense Hessian
    dense = torch.linalg.eigvalsh(p.hessian()).flip(0)
    np.testing.assert_allclose(dense.numpy(), expected, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kappa", [1.0, 1e2, 1e4, 1e6])
def test_condition_number_is_exactly_kappa(kappa):
    lam, _ = AWBT(d=5, kappa=kappa, fix_V=False, seed=3, dtype=f64).hessian_eigenpairs()
    assert lam[0].item() / lam[-1].item() == pytest.approx(kappa, rel=1e-12)


def test_eigenvectors_are_orthonormal_and_satisfy_H_v_equals_lambda_v():
    p = AWBT(d=5, kappa=1e3, fix_V=False, seed=2, dtype=f64)
    lam, vecs = p.hessian_eigenpairs()
    torch.testing.assert_close(vecs.T @ vecs, torch.eye(25, dtype=f64), atol=1e-12, rtol=0)
    torch.testing.assert_close(p.hessian_matvec(vecs), vecs * lam, atol=1e-12, rtol=0)
    # eigenvector (i, j) is vec(U[:, i] V[:, j]^T) in row-major order
    top = torch.outer(p.U[:, 0], p.V[:, 0]).reshape(-1)
    torch.testing.assert_close(vecs[:, 0], top)
    lam3, vecs3 = p.hessian_eigenpairs(k=3)
    torch.testing.assert_close(lam3, lam[:3])
    torch.testing.assert_close(vecs3, vecs[:, :3])


def test_hessian_matches_dense_autograd_in_row_major_vec():
    p = AWBT(d=4, kappa=1e2, fix_V=False, seed=5, dtype=f64)
    H = torch.autograd.functional.hessian(lambda w: p.loss(w.reshape(4, 4)), p.W0.reshape(-1))
    A2, B2 = p.A @ p.A, p.B @ p.B
    torch.testing.assert_close(H, torch.kron(A2, B2), atol=1e-12, rtol=0)
    torch.testing.assert_close(p.hessian(), H, atol=1e-12, rtol=0)
    v = torch.randn(16, dtype=f64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(p.hessian_matvec(v), H @ v, atol=1e-12, rtol=0)
    # SPEC's B^2 (x) A^2 is the same operator in column-major vec
    perm = torch.arange(16).reshape(4, 4).T.reshape(-1)  # row-major index of column-major slot
    torch.testing.assert_close(H[perm][:, perm], torch.kron(B2, A2), atol=1e-12, rtol=0)


def test_grad_matches_autograd_and_optimum():
    p = AWBT(d=8, kappa=1e4, fix_V=False, seed=7, dtype=f64)
    W = p.W0.clone().requires_grad_(True)
    p.loss(W).backward()
    torch.testing.assert_close(p.grad(p.W0), W.grad, atol=1e-13, rtol=1e-12)
    assert p.loss(p.W_star).item() == pytest.approx(0.0, abs=1e-25)
    assert p.grad(p.W_star).abs().max().item() < 1e-14
    assert p.loss(p.W0).item() > 0


def test_construction_details():
    p = AWBT(d=16, kappa=1e4, fix_V=True, seed=11, dtype=f64)
    torch.testing.assert_close(p.V, torch.eye(16, dtype=f64))
    torch.testing.assert_close(p.U.T @ p.U, torch.eye(16, dtype=f64), atol=1e-13, rtol=0)
    torch.testing.assert_close(p.A, p.A.T)
    s = torch.logspace(0, -1, 16, dtype=f64)
    torch.testing.assert_close(torch.linalg.eigvalsh(p.A), s.flip(0), atol=1e-13, rtol=0)
    torch.testing.assert_close(p.T, p.A @ p.W_star @ p.B)
    q = AWBT(d=16, kappa=1e4, fix_V=False, seed=11, dtype=f64)
    assert not torch.allclose(q.V, torch.eye(16, dtype=f64))
    torch.testing.assert_close(q.V.T @ q.V, torch.eye(16, dtype=f64), atol=1e-13, rtol=0)
    # common random numbers: the fix_V pair shares U, W_star, W0
    for name in ("U", "W_star", "W0"):
        assert torch.equal(getattr(p, name), getattr(q, name))
    # the QR sign fix makes diag(R) of the Gaussian positive, i.e. Q^T G has positive diagonal
    g = torch.randn(16, 16, dtype=f64, generator=torch.Generator().manual_seed(11))
    assert (torch.diagonal(p.U.T @ g) > 0).all()


def test_W_star_and_W0_have_variance_one_over_d():
    p = AWBT(d=64, seed=0, dtype=f64)
    for w in (p.W_star, p.W0):
        assert w.var().item() == pytest.approx(1 / 64, rel=0.1)
    assert abs(torch.corrcoef(torch.stack([p.W_star.reshape(-1), p.W0.reshape(-1)]))[0, 1]) < 0.1


def test_seeds_reproducible_and_distinct_and_float32_cast():
    a, b, c = AWBT(d=8, seed=4), AWBT(d=8, seed=4), AWBT(d=8, seed=5)
    for name in ("A", "B", "T", "W0", "W_star"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.W0, c.W0)
    assert a.W0.dtype == torch.float32
    ref = AWBT(d=8, seed=4, dtype=f64)
    assert torch.equal(a.A, ref.A.float())


@pytest.mark.parametrize("kw, field", [({"d": 1}, "d"), ({"kappa": 0.5}, "kappa"),
                                       ({"kappa": math.inf}, "kappa"), ({"seed": -1}, "seed"),
                                       ({"fix_V": "yes"}, "fix_V")])
def test_bad_input(kw, field):
    with pytest.raises(ValueError, match=field):
        AWBT(**kw)


def test_batch_slices_equal_unbatched():
    seeds = [3, 1, 4]
    batch = AWBTBatch.from_seeds(seeds, d=8, kappa=1e2, fix_V=False)
    assert batch.W0.shape == (3, 8, 8) and len(batch) == 3 and batch.seeds == (3, 1, 4)
    W = batch.W0 + 0.1 * batch.W_star
    losses, grads = batch.loss(W), batch.grad(W)
    assert losses.shape == (3,)
    for i, s in enumerate(seeds):
        p = AWBT(d=8, kappa=1e2, fix_V=False, seed=s)
        for name in ("A", "B", "T", "V", "W0", "W_star"):
            assert torch.equal(getattr(batch, name)[i], getattr(p, name))
        loss_bound, grad_bound = _float32_residual_bounds(p, W[i])
        torch.testing.assert_close(losses[i], p.loss(W[i]), rtol=0, atol=loss_bound)
        assert ((grads[i] - p.grad(W[i])).double().abs() <= grad_bound).all()


def _float32_residual_bounds(p: AWBT, W: torch.Tensor) -> tuple[float, torch.Tensor]:
    """Bounds on |batched - single| of the float32 loss and gradient (per entry), which
    differ only in summation order (bmm vs mm). Each side's R = A W B - T (two matmuls of
    inner size d, one subtraction) is within (2 d + 1) eps32 (|A| |W| |B| + |T|) of the
    exact R; 1/2 sum R^2 adds <= (d^2 + 2) eps32 L; A^T R B^T adds the propagated error
    |A|^T dR |B|^T and its own (2 d) eps32 |A|^T |R| |B|^T. Two sides: twice each bound.
    Evaluated in float64 from the float32 inputs (first order; errors ~1e-6 relative)."""
    d, eps = W.shape[-1], 2.0**-24
    A, B, T, W = (x.double() for x in (p.A, p.B, p.T, W))
    R = A @ W @ B - T
    dR = (2 * d + 1) * eps * (A.abs() @ W.abs() @ B.abs() + T.abs())
    loss = 0.5 * R.square().sum()
    loss_bound = 2 * ((R.abs() * dR).sum() + (d * d + 2) * eps * loss).item()
    grad_bound = 2 * (A.abs().T @ dR @ B.abs().T + 2 * d * eps * A.abs().T @ R.abs() @ B.abs().T)
    return loss_bound, grad_bound
