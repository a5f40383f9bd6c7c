"""Spectral density by stochastic Lanczos quadrature (SPEC section 4, PyHessian's ESD).

For a unit probe ``v``, ``m`` Lanczos steps give ``T_m = S diag(theta) S^T`` and the Gauss
rule ``v^T f(A) v ~ sum_i w_i f(theta_i)`` with ``w_i = S_{0i}^2``, exact for polynomials
of degree ``< 2m``. Averaging the rules over probes estimates ``tr f(A) / dim``; with
``f`` a Gaussian of width ``sigma`` this is the broadened eigenvalue density
(Ubaru, Chen, Saad 2017; Ghorbani, Krishnan, Xiao 2019).
"""

from __future__ import annotations

import math

import torch

from .lanczos import LanczosProcess, LanczosWorkspace
from .operators import Operator
from .results import SpectralDensity
from .trace import probe_vector


def slq_density(
    op: Operator,
    *,
    n_probes: int = 10,
    n_steps: int = 80,
    grid: int | torch.Tensor = 1000,
    sigma: float | None = None,
    seed: int = 0,
) -> SpectralDensity:
    """Eigenvalue density of ``op`` on a grid, normalised to integrate to 1.

    n_probes: independent normalised Rademacher probes.
    n_steps: Lanczos steps per probe (capped at ``dim``); a probe stops early when its
        Krylov space is invariant (its rule is then exact).
    grid: number of equally spaced points spanning the nodes +- 3 sigma, or the points.
    sigma: Gaussian broadening (standard deviation); default 1% of the node range
        (of ``max(|nodes|)`` when the range is zero).
    seed: seeds a local CPU ``torch.Generator`` for the probes.
    """
    if n_probes < 1:
        raise ValueError(f"n_probes must be >= 1, got {n_probes}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if sigma is not None and not sigma > 0:
        raise ValueError(f"sigma must be > 0 or None, got {sigma}")
    generator = torch.Generator().manual_seed(seed)
    steps = min(n_steps, op.dim)
    nodes, weights = [], []
    n_matvec = 0
    workspace = LanczosWorkspace(op, steps, keep_products=False)
    for _ in range(n_probes):
        process = LanczosProcess(op, probe_vector(op, generator, "rademacher"), max_steps=steps,
                                 workspace=workspace)
        while process.n_steps < steps and not process.invariant:
            process.step()
            n_matvec += 1
        theta, s = process.tridiagonal_eigh()
        nodes.append(torch.as_tensor(theta, dtype=torch.float64))
        weights.append(torch.as_tensor(s[0] ** 2, dtype=torch.float64))

    all_nodes = torch.cat(nodes)
    lo, hi = float(all_nodes.min()), float(all_nodes.max())
    if sigma is None:
        span = hi - lo if hi > lo else max(abs(lo), abs(hi), 1.0)
        sigma = 0.01 * span
    if isinstance(grid, int):
        if grid < 2:
            raise ValueError(f"grid must be an int >= 2 or a 1-D tensor, got {grid}")
        points = torch.linspace(lo - 3 * sigma, hi + 3 * sigma, grid, dtype=torch.float64)
    else:
        points = grid.detach().to("cpu", torch.float64).reshape(-1)
    all_weights = torch.cat(weights) / n_probes
    gauss = torch.exp(-0.5 * ((points[:, None] - all_nodes[None, :]) / sigma) ** 2)
    density = gauss @ all_weights / (sigma * math.sqrt(2 * math.pi))
    return SpectralDensity(
        grid=points,
        density=density,
        nodes=tuple(nodes),
        weights=tuple(weights),
        sigma=float(sigma),
        n_matvec=n_matvec,
    )
