"""Hutch++ against the dense trace (``torch.trace``) of explicit matrices."""

import math

import pytest

import torch

from muonlab.diagnostics import MatrixOperator, hutchinson_trace, hutchpp_trace

EPS64 = torch.finfo(torch.float64).eps


def _psd(dim: int, eigenvalues: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    return (Q * eigenvalues) @ Q.T


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hutchpp_brackets_the_dense_trace_of_a_random_psd_matrix(seed):
    dim = 120
    # A Hessian-like spectrum: a few outliers over a decaying bulk.
    eig = torch.cat([torch.tensor([50.0, 20.0, 10.0, 5.0]), 1.0 / torch.arange(1, dim - 3, dtype=torch.float64)])
    A = _psd(dim, eig, seed)
    res = hutchpp_trace(MatrixOperator(A), n_samples=60, seed=seed)
    truth = float(torch.trace(A))
    # The remainder's mean is unbiased; 4 standard errors is a two-sided band that a
    # correct estimator leaves with probability ~6e-5 (normal approximation).
    assert abs(res.estimate - truth) <= 4 * res.stderr
    assert res.samples.numel() == 60 - 2 * 20
    assert math.isclose(res.estimate, float(res.samples.mean()), rel_tol=1e-15)
    # The deflated remainder has far less variance than the whole matrix.
    plain = hutchinson_trace(MatrixOperator(A), n_samples=60, seed=seed)
    assert res.stderr < plain.stderr / 4


def test_hutchpp_is_exact_for_a_low_rank_matrix():
    dim, rank = 80, 6
    eig = torch.zeros(dim, dtype=torch.float64)
    eig[:rank] = torch.tensor([9.0, 7.0, 5.0, 3.0, 2.0, 1.0])
    A = _psd(dim, eig, 3)
    op = MatrixOperator(A)
    res = hutchpp_trace(op, n_samples=24, seed=0)  # sketch of 8 >= rank 6
    truth = float(torch.trace(A))
    # Only roundoff remains: QR and ~dim-term products in float64, relative to ||A||_*.
    bound = 100 * dim * EPS64 * truth
    assert abs(res.estimate - truth) <= bound
    assert res.stderr <= bound
    assert op.n_matvec == 24


@pytest.mark.parametrize("kwargs", [{"n_samples": 3}, {"distribution": "uniform"}])
def test_hutchpp_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        hutchpp_trace(MatrixOperator(torch.eye(4, dtype=torch.float64)), **kwargs)
