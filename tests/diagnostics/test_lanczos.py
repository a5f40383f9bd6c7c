"""Lanczos on plain symmetric matrices against ``torch.linalg.eigh`` (SPEC section 4)."""

from __future__ import annotations

import math

import pytest
import torch
from diag_oracles import haar_orthogonal, sin_largest_principal_angle

from muonlab.diagnostics import MatrixOperator, lanczos


def _matrix_with_spectrum(eigenvalues: torch.Tensor, seed: int) -> torch.Tensor:
    Q = haar_orthogonal(eigenvalues.numel(), torch.Generator().manual_seed(seed))
    return Q @ torch.diag(eigenvalues) @ Q.T


def _spread_spectrum(n: int, seed: int) -> torch.Tensor:
    # Evenly spaced with jitter: separated eigenvalues, negative ones largest in magnitude.
    g = torch.Generator().manual_seed(seed)
    return torch.linspace(-10.0, 8.0, n, dtype=torch.float64) + 0.01 * torch.randn(n, generator=g, dtype=torch.float64)


def _reference(A: torch.Tensor, k: int, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    evals, evecs = torch.linalg.eigh(A)
    key = evals.abs() if which == "LM" else evals
    order = torch.argsort(key, descending=True)[:k]
    return evals[order], evecs[:, order]


@pytest.mark.parametrize("which", ["LA", "LM"])
@pytest.mark.parametrize("k", range(1, 11))
def test_matches_eigh_on_random_symmetric(which: str, k: int) -> None:
    A = _matrix_with_spectrum(_spread_spectrum(120, seed=k), seed=100 + k)
    op = MatrixOperator(A)
    res = lanczos(op, k, which=which, tol=1e-10, seed=k)
    ref_vals, ref_vecs = _reference(A, k, which)
    assert res.eigenvalues.shape == (k,) and res.eigenvectors.shape == (120, k)
    torch.testing.assert_close(res.eigenvalues, ref_vals, rtol=1e-9, atol=0)
    assert sin_largest_principal_angle(res.eigenvectors, ref_vecs) < 1e-7
    # Columns are orthonormal and belong to their eigenvalues.
    torch.testing.assert_close(res.eigenvectors.T @ res.eigenvectors, torch.eye(k, dtype=torch.float64),
                               atol=1e-10, rtol=0)
    true_residuals = (A @ res.eigenvectors - res.eigenvectors * res.eigenvalues).norm(dim=0)
    # bound: both are float64 norms of the same residual (stored products vs A y), within
    # (n + k) eps64 ||A|| ~ 1e-13 of each other
    torch.testing.assert_close(res.residuals, true_residuals, atol=1e-12, rtol=1e-6)
    assert bool(res.converged.all())
    assert bool((res.residuals <= 1e-10 * res.eigenvalues.abs()).all())
    assert res.n_matvec == op.n_matvec


def test_goe_matrix_top_eigenvalues() -> None:
    g = torch.Generator().manual_seed(3)
    X = torch.randn(150, 150, generator=g, dtype=torch.float64)
    A = (X + X.T) / 2
    res = lanczos(MatrixOperator(A), 6, seed=1)
    torch.testing.assert_close(res.eigenvalues, torch.linalg.eigvalsh(A).flip(0)[:6], rtol=1e-8, atol=0)


def test_repeated_eigenvalues_are_all_found() -> None:
    # One Lanczos sequence sees one direction per eigenspace; locking must recover the copies.
    spectrum = torch.cat([torch.tensor([5.0, 5.0, 5.0, 4.0, 4.0, 3.0], dtype=torch.float64),
                          torch.linspace(-1.0, 2.0, 94, dtype=torch.float64)])
    A = _matrix_with_spectrum(spectrum, seed=5)
    res = lanczos(MatrixOperator(A), 6, seed=0)
    torch.testing.assert_close(res.eigenvalues, spectrum[:6], rtol=1e-10, atol=0)
    ref_vals, ref_vecs = _reference(A, 6, "LA")
    # Davis-Kahan sin(theta) theorem: the Ritz subspace is within ||R||_F / delta of the
    # true top-6 eigenspace, R the residual matrix, delta the gap between the Ritz values
    # and the rest of the spectrum (2.0). A bound from the run's own residuals, not from
    # the angle one CPU and thread count happened to give (3e-7 with 2 threads here).
    delta = float(res.eigenvalues.min()) - float(spectrum[6])
    assert sin_largest_principal_angle(res.eigenvectors, ref_vecs) <= float(res.residuals.norm()) / delta


def test_budget_exhaustion_reports_unconverged() -> None:
    A = _matrix_with_spectrum(_spread_spectrum(200, seed=0), seed=1)
    op = MatrixOperator(A)
    res = lanczos(op, 5, which="LA", tol=1e-12, max_iter=8)
    assert res.n_matvec == 8 == op.n_matvec
    assert res.eigenvalues.shape == (5,)
    assert not bool(res.converged.all())
    # A flag is never set on a pair that misses the residual bound.
    bound = 1e-12 * res.eigenvalues.abs()
    assert not bool((res.converged & (res.residuals > bound)).any())


def test_small_dimension_and_k_equal_dim() -> None:
    A = _matrix_with_spectrum(torch.tensor([3.0, 1.0, -2.0, 0.5], dtype=torch.float64), seed=2)
    res = lanczos(MatrixOperator(A), 4, which="LM")
    torch.testing.assert_close(res.eigenvalues, torch.tensor([3.0, -2.0, 1.0, 0.5], dtype=torch.float64),
                               rtol=1e-12, atol=1e-12)


def test_zero_eigenvalues_converge() -> None:
    # A rank-2 matrix: relative residual tests alone could never accept theta = 0.
    u = haar_orthogonal(30, torch.Generator().manual_seed(4))[:, :2]
    A = u @ torch.diag(torch.tensor([2.0, 1.0], dtype=torch.float64)) @ u.T
    res = lanczos(MatrixOperator(A), 4)
    torch.testing.assert_close(res.eigenvalues, torch.tensor([2.0, 1.0, 0.0, 0.0], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    assert bool(res.converged.all())


def test_deterministic_for_a_seed() -> None:
    A = _matrix_with_spectrum(_spread_spectrum(80, seed=9), seed=9)
    a = lanczos(MatrixOperator(A), 4, seed=11)
    b = lanczos(MatrixOperator(A), 4, seed=11)
    assert torch.equal(a.eigenvalues, b.eigenvalues) and torch.equal(a.eigenvectors, b.eigenvectors)
    c = lanczos(MatrixOperator(A), 4, seed=12)
    assert not torch.equal(a.eigenvectors, c.eigenvectors)
    torch.testing.assert_close(a.eigenvalues, c.eigenvalues, rtol=1e-9, atol=0)


def test_float32_operator() -> None:
    """Float32 Lanczos against the float64 spectrum of A, within a derived bound.

    The operator is A32 = fl(A): Weyl moves each eigenvalue by <= ||A32 - A||_2 (the input's
    rounding, computed exactly in float64). A converged pair (theta, y) has a float32
    residual <= max(tol |theta|, 10 sqrt(n) eps32 ||A||), and that residual is computed
    from the stored float32 products (matvec and combination: <= 2 n eps32 ||A||_2 more,
    and n eps32 ||A||_2 for y's float32 normalization);
    with the returned vector's true residual r (float64, checked against that bound)
    the Rayleigh quotient rho(y) is within r^2 / gap of an eigenvalue (Kato-Temple; gap to
    the rest of A32's spectrum), and theta is within n eps32 ||A||_2 of rho(y) (the
    float32 projected problem: Paige's analysis with constant 1, an assumption).
    """
    n, tol = 60, 1e-5
    A = _matrix_with_spectrum(_spread_spectrum(n, seed=1), seed=1)
    A32 = A.float()
    res = lanczos(MatrixOperator(A32), 3, tol=tol)
    assert res.eigenvalues.dtype == torch.float32
    assert bool(res.converged.all())
    eps32, norm = 2.0**-24, torch.linalg.matrix_norm(A, ord=2).item()
    weyl = torch.linalg.matrix_norm(A32.double() - A, ord=2).item()
    spectrum32 = torch.linalg.eigvalsh(A32.double())
    for theta, y, lam in zip(res.eigenvalues.double(), res.eigenvectors.double().T, _reference(A, 3, "LA")[0]):
        theta = theta.item()
        y = y / y.norm()
        rho = (y @ A32.double() @ y).item()
        r = (A32.double() @ y - rho * y).norm().item()
        assert r <= max(tol * abs(theta), 10 * math.sqrt(n) * eps32 * norm) + 2 * n * eps32 * norm + n * eps32 * norm
        others = spectrum32[(spectrum32 - rho).abs() > r]
        gap = (others - rho).abs().min().item()
        assert r < gap  # Kato-Temple's condition: one eigenvalue within r of rho
        bound = n * eps32 * norm + r * r / gap + weyl
        assert bound < 1e-5 * abs(lam.item())  # float32 accuracy, well inside the old rtol 1e-5
        assert abs(theta - lam.item()) <= bound


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"k": 0}, "k"), ({"k": 61}, "k"), ({"k": 2, "which": "SA"}, "which"),
     ({"k": 2, "tol": 0.0}, "tol"), ({"k": 3, "max_iter": 2}, "max_iter")],
)
def test_invalid_arguments(kwargs: dict, field: str) -> None:
    op = MatrixOperator(torch.eye(60, dtype=torch.float64))
    with pytest.raises(ValueError, match=field):
        lanczos(op, **kwargs)


def test_workspace_reuse_gives_the_same_process() -> None:
    """Processes that reuse one workspace (as ``lanczos`` and SLQ do) follow exactly the
    recurrence of processes with their own rows: reuse moves no number."""
    from muonlab.diagnostics.lanczos import LanczosProcess, LanczosWorkspace

    A = _matrix_with_spectrum(_spread_spectrum(60, seed=5), seed=6)
    op = MatrixOperator(A)
    g = torch.Generator().manual_seed(0)
    starts = [torch.randn(60, generator=g, dtype=torch.float64) for _ in range(3)]
    deflate = torch.linalg.qr(torch.randn(60, 4, generator=g, dtype=torch.float64)).Q
    workspace = LanczosWorkspace(op, 4 + 20, keep_products=True)
    # Fill the workspace with garbage first: a process must not read rows it did not write.
    workspace.rows.fill_(float("nan"))
    workspace.products.fill_(float("nan"))
    for start, defl in zip(starts, [None, deflate, deflate[:, :2]]):
        own = LanczosProcess(op, start, max_steps=20, deflate=defl, keep_products=True)
        lent = LanczosProcess(op, start, max_steps=20, deflate=defl, keep_products=True, workspace=workspace)
        for _ in range(15):
            own.step()
            lent.step()
        assert own.alpha == lent.alpha and own.beta == lent.beta
        assert torch.equal(own.basis, lent.basis) and torch.equal(own.products, lent.products)
    with pytest.raises(ValueError, match="workspace holds 24 rows; this process needs 25"):
        LanczosProcess(op, starts[0], max_steps=21, deflate=deflate, workspace=workspace)
    with pytest.raises(ValueError, match="without products"):
        LanczosProcess(op, starts[0], max_steps=5, keep_products=True,
                       workspace=LanczosWorkspace(op, 5, keep_products=False))
