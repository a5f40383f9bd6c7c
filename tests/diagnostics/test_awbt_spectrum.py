"""Lanczos on the AWB-T Hessian against its closed-form spectrum (SPEC 2.1, issue 4)."""

from __future__ import annotations

import pytest
import torch
from diag_oracles import make_kronecker_awbt, sin_largest_principal_angle

from muonlab.diagnostics import lanczos, power_iteration


@pytest.mark.parametrize("fix_V", [True, False])
def test_row_major_kronecker_identity(fix_V: bool) -> None:
    # vec_r(A^2 W B^2) = (A^2 (x) B^2) vec_r(W): the matvec is the dense Kronecker product.
    op = make_kronecker_awbt(5, 1e4, fix_V=fix_V, seed=1)
    dense = torch.kron(op.A2, op.B2)
    W = torch.randn(5, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(op.matvec(W.reshape(-1)), dense @ W.reshape(-1), rtol=1e-13, atol=1e-15)
    lam, vecs = op.eigenpairs(25)
    torch.testing.assert_close(dense @ vecs, vecs * lam, rtol=0, atol=1e-13)
    torch.testing.assert_close(torch.linalg.eigvalsh(dense).flip(0), lam, rtol=1e-12, atol=1e-15)
    assert float(lam[0] / lam[-1]) == pytest.approx(1e4, rel=1e-10)


@pytest.mark.parametrize("fix_V", [True, False])
def test_lanczos_top_k_matches_analytic(fix_V: bool) -> None:
    op = make_kronecker_awbt(32, 1e4, fix_V=fix_V, seed=3)
    for k in range(1, 11):
        res = lanczos(op, k, seed=k)
        lam, vecs = op.eigenpairs(k)
        rel = ((res.eigenvalues - lam).abs() / lam).max()
        assert float(rel) <= 1e-6, (k, float(rel))
        assert bool(res.converged.all())
        # S_A = S_B makes s_i^2 s_j^2 depend on i + j only (multiplicity i + j + 1): the
        # top-k subspace is well defined exactly when k closes a multiplicity group.
        if k in (1, 3, 6, 10):
            assert sin_largest_principal_angle(res.eigenvectors, vecs) < 1e-6


def test_lanczos_uses_fewer_products_than_deflated_power() -> None:
    op = make_kronecker_awbt(32, 1e4, fix_V=True, seed=0)
    lam, _ = op.eigenpairs(10)
    lz = lanczos(op, 10, tol=1e-8)
    pw = power_iteration(op, 10, tol=1e-8, max_iter=5000)
    assert float(((lz.eigenvalues - lam).abs() / lam).max()) <= 1e-6
    assert lz.n_matvec * 2 <= pw.n_matvec
