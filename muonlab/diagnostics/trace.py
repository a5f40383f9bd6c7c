"""Stochastic trace estimation (SPEC section 4).

Hutchinson: ``tr A = E[z^T A z]`` for probes with ``E[z z^T] = I``; the estimate is the
sample mean, its error bar ``std / sqrt(n)``.

Hutch++ (Meyer, Musco, Musco & Woodruff 2021, Algorithm 1): a third of the budget sketches
the dominant range ``Q = orth(A S)``, a third computes ``tr(Q^T A Q)`` exactly, the last
third runs Hutchinson on the deflated remainder ``(I - QQ^T) A (I - QQ^T)``. A Hessian's
few large outliers then leave the random part, whose variance is what remains."""

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
