"""Lanczos, SLQ and Hutchinson on a small MLP Hessian against its dense ``eigh`` (issue 4)."""

from __future__ import annotations

import math

import pytest
import torch
from diag_oracles import make_mlp_problem, sin_largest_principal_angle

from muonlab.diagnostics import MatrixOperator, hessian_operator, hutchinson_trace, lanczos, slq_density


@pytest.mark.parametrize("which", ["LA", "LM"])
def test_lanczos_matches_dense_hessian(which: str) -> None:
    prob = make_mlp_problem()
    evals, evecs = torch.linalg.eigh(prob.hessian)
    assert evals[0] < -1.0  # indefinite: LA and LM pick different pairs
    key = evals.abs() if which == "LM" else evals
    order = torch.argsort(key, descending=True)[:8]
    op = hessian_operator(prob.loss_fn, prob.params)
    res = lanczos(op, 8, which=which, tol=1e-9)
    torch.testing.assert_close(res.eigenvalues, evals[order], rtol=1e-8, atol=0)
    assert sin_largest_principal_angle(res.eigenvectors, evecs[:, order]) < 1e-6
    assert bool(res.converged.all()) and res.n_matvec == op.n_matvec


def _broadened(eigenvalues: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    z = (grid[:, None] - eigenvalues[None, :]) / sigma
    return torch.exp(-0.5 * z**2).mean(dim=1) / (sigma * math.sqrt(2 * math.pi))


def test_slq_density_matches_dense_spectrum() -> None:
    prob = make_mlp_problem()
    evals = torch.linalg.eigvalsh(prob.hessian)
    op = hessian_operator(prob.loss_fn, prob.params)
    dens = slq_density(op, n_probes=20, n_steps=40, seed=0)
    assert dens.n_matvec == 20 * 40 == op.n_matvec
    dx = float(dens.grid[1] - dens.grid[0])
    assert float(dens.density.sum()) * dx == pytest.approx(1.0, abs=1e-3)
    exact = _broadened(evals, dens.grid, dens.sigma)
    l1 = float((dens.density - exact).abs().sum()) * dx
    assert l1 < 0.15
    # The same estimate against a shifted spectrum is far off: the L1 test discriminates.
    assert float((dens.density - _broadened(evals + 0.5, dens.grid, dens.sigma)).abs().sum()) * dx > 0.5
    for w in dens.weights:
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)


def test_slq_moments_within_error_bars() -> None:
    # Per probe, sum_i w_i theta_i^p estimates tr(H^p) / dim (Gauss rule exact for p < 2m).
    prob = make_mlp_problem()
    H = prob.hessian
    dim = H.shape[0]
    dens = slq_density(MatrixOperator(H), n_probes=30, n_steps=20, seed=1)
    for p in (1, 2, 3):
        per_probe = torch.stack([(w * n**p).sum() for n, w in zip(dens.nodes, dens.weights)])
        exact = float(torch.trace(torch.linalg.matrix_power(H, p))) / dim
        stderr = float(per_probe.std()) / math.sqrt(per_probe.numel())
        assert abs(float(per_probe.mean()) - exact) <= 3 * stderr


def test_slq_full_krylov_nodes_are_eigenvalues() -> None:
    # With a Krylov space that exhausts the spectrum, every node is an exact eigenvalue.
    g = torch.Generator().manual_seed(2)
    Q = torch.linalg.qr(torch.randn(30, 30, generator=g, dtype=torch.float64))[0]
    spectrum = torch.linspace(-1.0, 3.0, 30, dtype=torch.float64)
    dens = slq_density(MatrixOperator(Q @ torch.diag(spectrum) @ Q.T), n_probes=2, n_steps=50, seed=0)
    for nodes in dens.nodes:
        assert nodes.numel() == 30
        torch.testing.assert_close(nodes, spectrum, atol=1e-10, rtol=0)


def test_slq_invariant_probe_gives_short_exact_rule() -> None:
    # Two distinct eigenvalues: every Krylov space is invariant after two steps.
    A = torch.diag(torch.tensor([2.0] * 10 + [-1.0] * 10, dtype=torch.float64))
    dens = slq_density(MatrixOperator(A), n_probes=3, n_steps=15, seed=0, grid=torch.linspace(-2, 3, 11))
    assert dens.n_matvec == 6 and dens.grid.numel() == 11
    for nodes, weights in zip(dens.nodes, dens.weights):
        torch.testing.assert_close(nodes, torch.tensor([-1.0, 2.0], dtype=torch.float64), atol=1e-12, rtol=0)
        torch.testing.assert_close(weights, torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_within_three_stderr(distribution: str) -> None:
    prob = make_mlp_problem()
    op = hessian_operator(prob.loss_fn, prob.params)
    res = hutchinson_trace(op, n_samples=200, seed=3, distribution=distribution)
    assert res.samples.shape == (200,) and op.n_matvec == 200
    assert res.estimate == pytest.approx(float(res.samples.mean()))
    assert res.stderr == pytest.approx(float(res.samples.std()) / math.sqrt(200))
    assert abs(res.estimate - float(torch.trace(prob.hessian))) <= 3 * res.stderr


def test_hutchinson_rademacher_exact_on_diagonal() -> None:
    # z^T D z = sum_i D_ii z_i^2 = tr D for every Rademacher z.
    D = torch.diag(torch.tensor([3.0, -1.0, 0.5, 2.0], dtype=torch.float64))
    res = hutchinson_trace(MatrixOperator(D), n_samples=5)
    assert res.estimate == pytest.approx(4.5, abs=1e-14) and res.stderr == pytest.approx(0.0, abs=1e-14)


def test_invalid_options() -> None:
    op = MatrixOperator(torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="n_samples"):
        hutchinson_trace(op, n_samples=1)
    with pytest.raises(ValueError, match="distribution"):
        hutchinson_trace(op, n_samples=4, distribution="uniform")
    with pytest.raises(ValueError, match="n_probes"):
        slq_density(op, n_probes=0)
    with pytest.raises(ValueError, match="sigma"):
        slq_density(op, sigma=-1.0)
