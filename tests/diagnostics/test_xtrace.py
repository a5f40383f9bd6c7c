"""XTrace against a naive leave-one-out transcription and the dense trace."""

import math
import statistics

import pytest
import torch

from muonlab.diagnostics import MatrixOperator, hutchinson_trace, xtrace_trace
from muonlab.diagnostics.trace import probe_vector

EPS64 = torch.finfo(torch.float64).eps


def _symmetric(dim: int, eigenvalues: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g, dtype=torch.float64))
    return (Q * eigenvalues) @ Q.T


def _naive_samples(A: torch.Tensor, n_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Epperly, Tropp & Webber (2024) Algorithm 1.2 as written, one QR per left-out probe;
    returns the samples and the probes."""
    op = MatrixOperator(A)
    g = torch.Generator().manual_seed(seed)
    m = n_samples // 2
    W = torch.stack([probe_vector(op, g, "rademacher") for _ in range(m)], dim=1)
    out = []
    for i in range(m):
        Qi = torch.linalg.qr(A @ torch.cat([W[:, :i], W[:, i + 1:]], dim=1)).Q
        P = torch.eye(A.shape[0], dtype=A.dtype) - Qi @ Qi.T
        out.append(torch.trace(Qi.T @ A @ Qi) + W[:, i] @ P @ A @ P @ W[:, i])
    return torch.stack(out), W


@pytest.mark.parametrize("seed", [0, 1])
def test_xtrace_matches_the_naive_leave_one_out_estimator(seed):
    dim, n = 40, 14
    A = _symmetric(dim, torch.linspace(-3.0, 5.0, dim, dtype=torch.float64), seed)
    res = xtrace_trace(MatrixOperator(A), n_samples=n, seed=seed)
    naive, W = _naive_samples(A, n, seed)
    # Downdating R^{-T} amplifies roundoff by cond(R) = cond(A W); each sample is a sum
    # of ~dim * m products of entries bounded by ||A||_2 ||w||^2 = 5 * dim.
    cond = float(torch.linalg.cond(A @ W))
    bound = 10 * cond * (n // 2) * dim * EPS64 * 5 * dim
    assert float((res.samples - naive).abs().max()) <= bound
    assert math.isclose(res.estimate, float(naive.mean()), abs_tol=bound)
    assert math.isclose(res.stderr, float(naive.std(correction=1)) / math.sqrt(n // 2), rel_tol=1e-6)


def test_xtrace_is_unbiased_over_seeds():
    dim, n, seeds = 30, 12, 200
    A = _symmetric(dim, torch.cat([torch.tensor([8.0, -6.0, 4.0]), torch.linspace(-1.0, 1.0, dim - 3)]), 7)
    estimates = [xtrace_trace(MatrixOperator(A), n_samples=n, seed=s).estimate for s in range(seeds)]
    # E[estimate] = tr A; 4 standard errors of the mean over independent seeds is a
    # two-sided band left with probability ~6e-5 (normal approximation).
    sem = statistics.stdev(estimates) / math.sqrt(seeds)
    assert abs(statistics.fmean(estimates) - float(torch.trace(A))) <= 4 * sem


def test_xtrace_beats_hutchinson_on_a_decaying_spectrum():
    dim, n = 120, 60
    eig = torch.cat([torch.tensor([50.0, 20.0, 10.0, 5.0]), 1.0 / torch.arange(1, dim - 3, dtype=torch.float64)])
    A = _symmetric(dim, eig, 1)
    truth = float(torch.trace(A))
    rmse = {}
    for name, f in (("x", xtrace_trace), ("h", hutchinson_trace)):
        errs = [(f(MatrixOperator(A), n_samples=n, seed=s).estimate - truth) ** 2 for s in range(10)]
        rmse[name] = math.sqrt(statistics.fmean(errs))
    # The outliers carry 99.5% of ||A||_F^2 and leave XTrace's random part; Hutchinson's
    # error is dominated by them (variance 2 sum_{i != j} A_ij^2).
    assert rmse["x"] < rmse["h"] / 4


def test_xtrace_counts_its_products_and_rejects_bad_input():
    op = MatrixOperator(_symmetric(20, torch.linspace(1.0, 2.0, 20, dtype=torch.float64), 0))
    xtrace_trace(op, n_samples=11)
    assert op.n_matvec == 10
    for kwargs in ({"n_samples": 5}, {"distribution": "uniform"}, {"n_samples": 42}):
        with pytest.raises(ValueError):
            xtrace_trace(op, **kwargs)
    low_rank = MatrixOperator(_symmetric(20, torch.cat([torch.ones(2), torch.zeros(18)]).double(), 0))
    with pytest.raises(ValueError, match="rank-deficient"):
        xtrace_trace(low_rank, n_samples=12)
