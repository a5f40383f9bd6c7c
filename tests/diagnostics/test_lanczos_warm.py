"""Warm-started Lanczos (``lanczos(v0=...)``): the same eigenpairs as a cold start, with
fewer products when the start lies in (or near) the top-k subspace."""

from __future__ import annotations

import pytest
import torch
from diag_oracles import haar_orthogonal, make_kronecker_awbt, make_mlp_problem, sin_largest_principal_angle

from muonlab.diagnostics import DomBulkTracker, MatrixOperator, hessian_operator, lanczos


def _matrix(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    spectrum = torch.linspace(-10.0, 8.0, n, dtype=torch.float64) + 0.01 * torch.randn(n, generator=g, dtype=torch.float64)
    Q = haar_orthogonal(n, g)
    return Q @ torch.diag(spectrum) @ Q.T


def _top(A: torch.Tensor, k: int, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    evals, evecs = torch.linalg.eigh(A)
    order = torch.argsort(evals.abs() if which == "LM" else evals, descending=True)[:k]
    return evals[order], evecs[:, order]


@pytest.mark.parametrize("which", ["LA", "LM"])
@pytest.mark.parametrize(("k", "noise"), [(1, 0.0), (4, 0.0), (4, 1e-4), (8, 1e-6)])
def test_warm_equals_cold_with_fewer_products(which: str, k: int, noise: float) -> None:
    A = _matrix(120, seed=k)
    ref_vals, ref_vecs = _top(A, k, which)
    g = torch.Generator().manual_seed(7)
    guess = ref_vecs + noise * torch.randn(ref_vecs.shape, generator=g, dtype=torch.float64)
    v0 = guess[:, 0] if k == 1 else guess  # a vector, or a block whose columns are summed
    cold_op, warm_op = MatrixOperator(A), MatrixOperator(A)
    cold = lanczos(cold_op, k, which=which, tol=1e-9, seed=3)
    warm = lanczos(warm_op, k, which=which, tol=1e-9, seed=3, v0=v0)
    for res in (cold, warm):
        torch.testing.assert_close(res.eigenvalues, ref_vals, rtol=1e-8, atol=0)
        assert sin_largest_principal_angle(res.eigenvectors, ref_vecs) < 1e-6
        assert bool(res.converged.all())
    # Honest count: every product the operator saw, and strictly fewer than cold.
    assert warm.n_matvec == warm_op.n_matvec < cold.n_matvec == cold_op.n_matvec


@pytest.mark.parametrize("fix_V", [True, False])
def test_awbt_warm_start_keeps_repeated_eigenvalues(fix_V: bool) -> None:
    # AWB-T's A^2 (x) B^2 has eigenvalue s_i^2 s_j^2 twice (i != j): the single warm
    # sequence sees one direction per eigenspace, locking must still find the copies.
    op = make_kronecker_awbt(8, 1e4, fix_V=fix_V, seed=1)
    k = 6
    truth_vals, truth_vecs = op.eigenpairs(k)
    cold = lanczos(op, k, tol=1e-10, seed=0)
    n_cold = op.n_matvec
    warm = lanczos(op, k, tol=1e-10, seed=0, v0=truth_vecs)
    n_warm = op.n_matvec - n_cold
    for res in (cold, warm):
        torch.testing.assert_close(res.eigenvalues, truth_vals, rtol=1e-9, atol=0)
        assert sin_largest_principal_angle(res.eigenvectors, truth_vecs) < 1e-6
    assert warm.n_matvec == n_warm < cold.n_matvec == n_cold


def test_tracker_refresh_is_warm() -> None:
    # Refreshing on an unchanged Hessian starts inside the exact subspace: same Q, fewer HVPs.
    prob = make_mlp_problem()
    params = [torch.nn.Parameter(p.clone()) for p in prob.params]
    ops = []

    def factory():
        ops.append(hessian_operator(prob.loss_fn, params))
        return ops[-1]

    tracker = DomBulkTracker(3, every=1, refresh=1, tol=1e-10, seed=0)
    tracker.update(1, factory, {})
    first = tracker.eigen
    tracker.update(2, factory, {})
    second = tracker.eigen
    torch.testing.assert_close(second.eigenvalues, first.eigenvalues, rtol=1e-9, atol=0)
    assert sin_largest_principal_angle(second.eigenvectors, first.eigenvectors) < 1e-7
    assert second.n_matvec == ops[1].n_matvec < first.n_matvec == ops[0].n_matvec


@pytest.mark.parametrize(
    "v0",
    [torch.ones(31), torch.ones(30, 0), torch.ones(2, 30, 1), torch.ones(29, 2), torch.zeros(30),
     torch.full((30,), float("nan")), torch.cat([torch.ones(30, 1), -torch.ones(30, 1)], dim=1)],
)
def test_bad_v0_is_rejected(v0: torch.Tensor) -> None:
    op = MatrixOperator(torch.eye(30, dtype=torch.float64))
    with pytest.raises(ValueError, match="v0"):
        lanczos(op, 2, v0=v0)
