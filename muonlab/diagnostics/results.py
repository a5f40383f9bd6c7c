"""Frozen result types of the Hessian diagnostics (SPEC section 10).

Each result carries its own evidence: eigenpairs come with their residuals and
convergence flags, estimates with their standard error, densities with the quadrature
nodes and weights they were broadened from.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EigenResult:
    """Eigenpairs of a symmetric operator.

    eigenvalues: ``(k,)``, descending (by value for ``which="LA"``, by magnitude for
    ``which="LM"`` and for power iteration).
    eigenvectors: ``(dim, k)``, orthonormal columns, column i belongs to eigenvalue i.
    residuals: ``(k,)``, ``||A y_i - theta_i y_i||_2`` of each returned pair.
    converged: ``(k,)`` bool, whether each pair met the method's stopping rule.
    n_matvec: operator applications (HVPs) spent.
    """

    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    residuals: torch.Tensor
    converged: torch.Tensor
    n_matvec: int


@dataclass(frozen=True)
class TraceResult:
    """A stochastic trace estimate: mean of ``samples``, ``stderr = std / sqrt(n)``."""

    estimate: float
    stderr: float
    samples: torch.Tensor


@dataclass(frozen=True)
class SpectralDensity:
    """Eigenvalue density from stochastic Lanczos quadrature.

    grid: ``(G,)`` eigenvalue axis; density: ``(G,)`` values of the broadened density,
    normalised to integrate to 1 (multiply by ``dim`` for an eigenvalue count).
    nodes / weights: one Gauss quadrature rule per probe (Ritz values and the squared
    first components of the tridiagonal's eigenvectors; each weight vector sums to 1).
    Rules may be shorter than ``n_steps`` when a probe's Krylov space became invariant.
    sigma: standard deviation of the Gaussian broadening.
    All tensors are float64 on the host (small, and ready for plotting).
    n_matvec: operator applications spent.
    """

    grid: torch.Tensor
    density: torch.Tensor
    nodes: tuple[torch.Tensor, ...]
    weights: tuple[torch.Tensor, ...]
    sigma: float
    n_matvec: int
