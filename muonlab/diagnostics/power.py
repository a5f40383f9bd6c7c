"""Deflated power iteration, the PyHessian baseline (``hessian.eigenvalues``).

For each of the k eigenpairs in turn: start from a random unit vector, and repeat
``v <- orthonormalise(v, found); Hv = A v; theta = v^T Hv; v <- Hv / ||Hv||`` until the
relative change of ``theta`` is below ``tol`` (PyHessian's rule
``|theta - theta_prev| / (|theta_prev| + 1e-6) < tol``) or ``max_iter`` products.
Power iteration converges to the largest-magnitude eigenvalue of the deflated operator.
"""

from __future__ import annotations

import torch

from .operators import Operator
from .results import EigenResult


def power_iteration(
    op: Operator,
    k: int,
    *,
    tol: float = 1e-3,
    max_iter: int = 100,
    seed: int = 0,
) -> EigenResult:
    """Top-k (by magnitude) eigenpairs by power iteration with deflation.

    tol, max_iter: PyHessian's per-eigenpair stopping rule and iteration cap (defaults
    as PyHessian). ``converged[i]`` tells whether pair i stopped by the ``tol`` rule.
    Each returned vector is the iterate whose Rayleigh quotient is the eigenvalue, so
    its residual ``||A v - theta v||`` costs no extra product.
    """
    if not 1 <= k <= op.dim:
        raise ValueError(f"k must be in [1, dim={op.dim}], got {k}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    generator = torch.Generator().manual_seed(seed)
    found = torch.empty(op.dim, 0, dtype=op.dtype, device=op.device)
    values, residuals, converged = [], [], []
    n_matvec = 0
    for _ in range(k):
        v = torch.randn(op.dim, generator=generator, dtype=torch.float64).to(op.device, op.dtype)
        theta_prev = None
        stopped = False
        for it in range(max_iter):
            v = v - found @ (found.T @ v)
            v = v / v.norm()
            hv = op.matvec(v)
            n_matvec += 1
            theta = float(v @ hv)
            if theta_prev is not None and abs(theta - theta_prev) / (abs(theta_prev) + 1e-6) < tol:
                stopped = True
                break
            norm = hv.norm()
            if it == max_iter - 1 or norm == 0:
                break
            theta_prev = theta
            v = hv / norm
        residuals.append(float((hv - theta * v).norm()))
        found = torch.cat([found, v[:, None]], dim=1)
        values.append(theta)
        converged.append(stopped)
    vals = torch.tensor(values, dtype=op.dtype, device=op.device)
    order = torch.argsort(vals.abs(), descending=True, stable=True)
    return EigenResult(
        eigenvalues=vals[order],
        eigenvectors=found[:, order],
        residuals=torch.tensor(residuals, dtype=op.dtype, device=op.device)[order],
        converged=torch.tensor(converged, device=op.device)[order],
        n_matvec=n_matvec,
    )
