"""Deflated power iteration against a float64 transcription of PyHessian's loop."""

from __future__ import annotations

import pytest
import torch
from diag_oracles import haar_orthogonal

from muonlab.diagnostics import MatrixOperator, power_iteration


def _pyhessian_eigenvalues(A: torch.Tensor, top_n: int, tol: float, max_iter: int, seed: int):
    """PyHessian ``hessian.eigenvalues`` (orthnormal -> Hv -> v^T Hv -> normalise), with
    the start vectors drawn from a seeded generator instead of the global one."""
    g = torch.Generator().manual_seed(seed)
    eigenvalues, eigenvectors, n_products = [], [], 0
    for _ in range(top_n):
        eigenvalue = None
        v = torch.randn(A.shape[0], generator=g, dtype=torch.float64)
        for _ in range(max_iter):
            for u in eigenvectors:  # orthnormal(): one Gram-Schmidt sweep, then normalise
                v = v - (v @ u) * u
            v = v / v.norm()
            Hv = A @ v
            n_products += 1
            tmp = float(Hv @ v)
            v = Hv / Hv.norm()
            if eigenvalue is None:
                eigenvalue = tmp
            elif abs(eigenvalue - tmp) / (abs(eigenvalue) + 1e-6) < tol:
                break
            else:
                eigenvalue = tmp
        eigenvalues.append(eigenvalue)
        eigenvectors.append(v)
    return eigenvalues, n_products


def _spd(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    spectrum = torch.logspace(1, -2, n, dtype=torch.float64)
    Q = haar_orthogonal(n, torch.Generator().manual_seed(seed))
    return Q @ torch.diag(spectrum) @ Q.T, spectrum


def test_matches_pyhessian_transcription() -> None:
    A, _ = _spd(40, seed=0)
    res = power_iteration(MatrixOperator(A), 4, tol=1e-4, max_iter=200, seed=5)
    ref_values, ref_products = _pyhessian_eigenvalues(A, 4, 1e-4, 200, seed=5)
    # PyHessian keeps the previous estimate when it stops; ours returns the latest one,
    # consistent with its vector: both satisfy the same relative-change rule (not a
    # rounding comparison; bound: consecutive estimates differ by <= tol relative, 2 tol).
    torch.testing.assert_close(res.eigenvalues, torch.tensor(ref_values, dtype=torch.float64), rtol=2e-4, atol=0)
    assert res.n_matvec == ref_products


def test_converges_to_top_eigenpairs() -> None:
    A, spectrum = _spd(40, seed=1)
    op = MatrixOperator(A)
    res = power_iteration(op, 3, tol=1e-13, max_iter=3000, seed=0)
    torch.testing.assert_close(res.eigenvalues, spectrum[:3], rtol=1e-9, atol=0)
    assert bool(res.converged.all())
    assert res.n_matvec == op.n_matvec
    true_residuals = (A @ res.eigenvectors - res.eigenvectors * res.eigenvalues).norm(dim=0)
    # bound: float64 norms of the same residual, within n eps64 ||A|| of each other
    torch.testing.assert_close(res.residuals, true_residuals, rtol=1e-6, atol=1e-14)


def test_iteration_cap_reports_unconverged() -> None:
    A, _ = _spd(40, seed=2)
    res = power_iteration(MatrixOperator(A), 2, tol=1e-14, max_iter=3, seed=0)
    assert res.n_matvec == 6 and not bool(res.converged.any())


def test_largest_magnitude_ordering() -> None:
    A = torch.diag(torch.tensor([1.0, -5.0, 3.0, 0.1], dtype=torch.float64))
    res = power_iteration(MatrixOperator(A), 2, tol=1e-12, max_iter=500)
    torch.testing.assert_close(res.eigenvalues, torch.tensor([-5.0, 3.0], dtype=torch.float64), rtol=1e-9, atol=0)


def test_invalid_arguments() -> None:
    op = MatrixOperator(torch.eye(3, dtype=torch.float64))
    for kwargs, field in (({"k": 4}, "k"), ({"k": 1, "tol": 0.0}, "tol"), ({"k": 1, "max_iter": 0}, "max_iter")):
        with pytest.raises(ValueError, match=field):
            power_iteration(op, **kwargs)
