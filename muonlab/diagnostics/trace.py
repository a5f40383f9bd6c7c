"""Stochastic trace estimation (SPEC section 4).

Hutchinson: ``tr A = E[z^T A z]`` for probes with ``E[z z^T] = I``; the estimate is the
sample mean, its error bar ``std / sqrt(n)``.

Hutch++ (Meyer, Musco, Musco & Woodruff 2021, Algorithm 1): a third of the budget sketches
the dominant range ``Q = orth(A S)``, a third computes ``tr(Q^T A Q)`` exactly, the last
third runs Hutchinson on the deflated remainder ``(I - QQ^T) A (I - QQ^T)``. A Hessian's
few large outliers then leave the random part, whose variance is what remains.

XTrace (Epperly, Tropp & Webber 2024, SIMAX, Algorithm 1.2 and its downdating form of
section 2.1): every probe is used both in the sketch and as a Hutchinson probe, by
leaving it out of the sketch in turn; half the budget sketches, half multiplies the
orthonormalised sketch. Hand-written here: no maintained library that this project
depends on has it (``curvlinops`` does, but pulls in BackPACK and linear_operator for
these 30 lines). Both help only as far as the spectrum decays: when the top third of
the budget's eigenvalues carry little of ``||A||_F^2``, the deflated remainder keeps
Hutchinson's variance with fewer probes (``bench/lanczos.py`` shows the decay)."""

from __future__ import annotations

import math

import torch

from .operators import Operator
from .results import TraceResult

DISTRIBUTIONS = ("rademacher", "gaussian")


def probe_vector(op: Operator, generator: torch.Generator, distribution: str) -> torch.Tensor:
    """A probe with ``E[z z^T] = I``, drawn on the CPU (same on every device)."""
    if distribution == "rademacher":
        z = torch.randint(0, 2, (op.dim,), generator=generator, dtype=torch.float64) * 2 - 1
    elif distribution == "gaussian":
        z = torch.randn(op.dim, generator=generator, dtype=torch.float64)
    else:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    return z.to(op.device, op.dtype)


def hutchinson_trace(
    op: Operator,
    *,
    n_samples: int = 100,
    seed: int = 0,
    distribution: str = "rademacher",
) -> TraceResult:
    """Hutchinson's estimate of ``tr A`` from ``n_samples`` probes (>= 2 for a stderr).

    Rademacher probes have the smallest variance, ``2 sum_{i != j} A_ij^2``.
    """
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n_samples):
        z = probe_vector(op, generator, distribution)
        samples.append(float(z @ op.matvec(z)))
    values = torch.tensor(samples, dtype=torch.float64)
    return TraceResult(
        estimate=float(values.mean()),
        stderr=float(values.std(correction=1)) / math.sqrt(n_samples),
        samples=values,
    )


def _matvecs(op: Operator, columns: torch.Tensor) -> torch.Tensor:
    """``A X`` for the columns of ``X`` (one operator application each)."""
    return torch.stack([op.matvec(columns[:, i]) for i in range(columns.shape[1])], dim=1)


def hutchpp_trace(
    op: Operator,
    *,
    n_samples: int = 100,
    seed: int = 0,
    distribution: str = "rademacher",
) -> TraceResult:
    """Hutch++ estimate of ``tr A`` from ``n_samples`` operator applications (>= 4).

    ``s = n_samples // 3`` products sketch ``Q = orth(A S)``, ``s`` more give
    ``tr(Q^T A Q)``, and the other ``n_samples - 2 s`` (>= 2) probe the remainder:
    ``samples[i] = tr(Q^T A Q) + g_i^T (I - QQ^T) A (I - QQ^T) g_i``, so that
    ``estimate = mean(samples)`` and ``stderr = std(samples) / sqrt(n)`` as for
    :func:`hutchinson_trace` (the low-rank part is exact, only the remainder is random).
    Exact (stderr 0 up to roundoff) when ``rank A <= s``.
    """
    if n_samples < 4:
        raise ValueError(f"n_samples must be >= 4, got {n_samples}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    generator = torch.Generator().manual_seed(seed)
    sketch = min(n_samples // 3, op.dim)
    n_probe = n_samples - 2 * sketch
    S = torch.stack([probe_vector(op, generator, distribution) for _ in range(sketch)], dim=1)
    Q = torch.linalg.qr(_matvecs(op, S)).Q
    low_rank = float(torch.sum(Q * _matvecs(op, Q)))
    samples = []
    for _ in range(n_probe):
        g = probe_vector(op, generator, distribution)
        g = g - Q @ (Q.T @ g)
        samples.append(low_rank + float(g @ op.matvec(g)))
    values = torch.tensor(samples, dtype=torch.float64)
    return TraceResult(
        estimate=float(values.mean()),
        stderr=float(values.std(correction=1)) / math.sqrt(n_probe),
        samples=values,
    )


def xtrace_trace(
    op: Operator,
    *,
    n_samples: int = 100,
    seed: int = 0,
    distribution: str = "rademacher",
) -> TraceResult:
    """XTrace estimate of ``tr A`` from ``n_samples`` operator applications (>= 6).

    ``m = n_samples // 2`` probes ``W`` give ``Y = A W`` and ``Q R = Y``; ``m`` more
    products give ``A Q``. ``samples[i] = tr(Q_i^T A Q_i) + w_i^T (I - Q_i Q_i^T) A
    (I - Q_i Q_i^T) w_i`` with ``Q_i`` the orthonormal basis of ``A W`` without column
    ``i``, obtained by downdating: ``Q_i Q_i^T = Q (I - s_i s_i^T) Q^T`` with ``s_i`` the
    normalised ``i``-th column of ``R^{-T}`` (Epperly, Tropp & Webber 2024, eqs. 2.3-2.5).
    ``estimate = mean(samples)`` and ``stderr = std(samples) / sqrt(m)``, the paper's
    error estimate (the samples are exchangeable, not independent). Needs ``A W`` of full
    column rank (``rank A >= m``); an odd ``n_samples`` leaves one product unused.
    """
    if n_samples < 6:
        raise ValueError(f"n_samples must be >= 6, got {n_samples}")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    m = n_samples // 2
    if m > op.dim:
        raise ValueError(f"n_samples must be <= 2 * dim = {2 * op.dim}, got {n_samples}")
    generator = torch.Generator().manual_seed(seed)
    W = torch.stack([probe_vector(op, generator, distribution) for _ in range(m)], dim=1)
    AW = _matvecs(op, W)
    Q, R = torch.linalg.qr(AW)
    # Numerical rank as numpy's matrix_rank sets it (max(shape) eps times the largest),
    # read from the diagonal of R: a (numerically) zero one makes R^{-T} meaningless.
    diag = R.diagonal().abs()
    if bool(diag.min() <= max(op.dim, m) * torch.finfo(R.dtype).eps * diag.max()):
        raise ValueError(f"xtrace_trace: A W is rank-deficient (rank A < n_samples // 2 = {m}); "
                         "use hutchpp_trace or fewer samples")
    AQ = _matvecs(op, Q)
    eye = torch.eye(m, dtype=R.dtype, device=R.device)
    S = torch.linalg.solve_triangular(R.T, eye, upper=False)  # R^{-T}
    S = S / S.norm(dim=0)
    H = Q.T @ AQ
    # tr(Q_i^T A Q_i) = tr(Q^T A Q) - s_i^T (Q^T A Q) s_i
    samples = torch.trace(H) - torch.einsum("ji,jk,ki->i", S, H, S)

    def downdate(C: torch.Tensor) -> torch.Tensor:
        """Columns ``(I - s_i s_i^T) c_i``."""
        return C - S * (S * C).sum(dim=0)

    # (I - Q_i Q_i^T) A (I - Q_i Q_i^T) w_i, column by column.
    Y = AW - AQ @ downdate(Q.T @ W)
    Y = Y - Q @ downdate(Q.T @ Y)
    samples = (samples + (W * Y).sum(dim=0)).to(torch.float64).cpu()
    return TraceResult(
        estimate=float(samples.mean()),
        stderr=float(samples.std(correction=1)) / math.sqrt(m),
        samples=samples,
    )
