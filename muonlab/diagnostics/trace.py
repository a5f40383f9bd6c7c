"""Hutchinson trace estimation (SPEC section 4): ``tr A = E[z^T A z]`` for probes with
``E[z z^T] = I``; the estimate is the sample mean, its error bar ``std / sqrt(n)``."""

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
