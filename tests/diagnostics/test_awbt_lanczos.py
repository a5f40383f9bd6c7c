"""Lanczos on the Hessian of the real ``muonlab.toyproblems.AWBT`` (issue 4): eigenvalues
equal the analytic ``s_A,i^2 s_B,j^2`` and the eigenvectors span ``hessian_eigenpairs``'
subspace wherever the spectrum has a gap."""

from __future__ import annotations

import pytest
import torch

from muonlab.diagnostics import MatvecOperator, hessian_operator, lanczos
from muonlab.toyproblems import AWBT
from muonlab.toyproblems.awbt import awbt_spectrum

# S_A = S_B log-spaced: s_i^2 s_j^2 depends on i + j only, so eigenvalue group g
# (i + j = g) has multiplicity g + 1 and the top-k subspace is defined at k = 1, 3, 6, 10.
GAP_KS = (1, 3, 6, 10)


def sin_largest_angle(X: torch.Tensor, Y: torch.Tensor) -> float:
    """sin of the largest principal angle between span(X) and span(Y) (orthonormal columns)."""
    return float(torch.linalg.matrix_norm(X - Y @ (Y.T @ X), ord=2))


@pytest.mark.parametrize("fix_V", [True, False])
def test_lanczos_top_k_equals_analytic_awbt_eigenpairs(fix_V: bool) -> None:
    problem = AWBT(d=16, kappa=1e4, fix_V=fix_V, seed=2, dtype=torch.float64)
    s2 = awbt_spectrum(16, 1e4) ** 2  # diag(S_A)^2 = diag(S_B)^2
    analytic = torch.sort(torch.outer(s2, s2).reshape(-1), descending=True).values
    op = MatvecOperator(problem.hessian_matvec, problem.dim, problem.device, problem.dtype)
    for k in range(1, 11):
        result = lanczos(op, k, tol=1e-10, seed=k)
        assert bool(result.converged.all())
        rel = float(((result.eigenvalues - analytic[:k]).abs() / analytic[:k]).max())
        assert rel <= 1e-6, (k, rel)
        if k in GAP_KS:
            _, vectors = problem.hessian_eigenpairs(k)
            assert sin_largest_angle(result.eigenvectors, vectors) < 1e-6, k


def test_autograd_hessian_of_the_awbt_loss_is_its_analytic_matvec() -> None:
    # The runner's Hessian (hessian_operator of Task.loss_fn) is AWBT's own operator.
    problem = AWBT(d=6, kappa=1e2, fix_V=False, seed=0, dtype=torch.float64)
    op = hessian_operator(lambda params: problem.loss(params[0]), [problem.W0])
    v = torch.randn(problem.dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(op.matvec(v), problem.hessian_matvec(v), rtol=1e-12, atol=1e-14)
    top = lanczos(op, 3, seed=0)
    torch.testing.assert_close(top.eigenvalues, problem.hessian_eigenpairs(3)[0], rtol=1e-8, atol=0)
