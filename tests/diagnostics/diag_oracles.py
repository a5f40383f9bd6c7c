"""Oracles shared by the diagnostics tests: an AWB-T Kronecker Hessian built from its
definition (SPEC 2.1) and a small MLP whose dense Hessian comes from
``torch.autograd.functional.hessian``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def haar_orthogonal(d: int, generator: torch.Generator) -> torch.Tensor:
    """QR of a Gaussian with the sign of diag(R) fixed (Haar measure)."""
    q, r = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def orthonormal_columns(n: int, k: int, generator: torch.Generator) -> torch.Tensor:
    return haar_orthogonal(n, generator)[:, :k]


def sin_largest_principal_angle(X: torch.Tensor, Y: torch.Tensor) -> float:
    """``sin`` of the largest principal angle between span(X) and span(Y), both orthonormal."""
    return float(torch.linalg.matrix_norm(X - Y @ (Y.T @ X), ord=2))


@dataclass
class KroneckerAWBT:
    """Hessian of ``1/2 ||A W B - T||_F^2`` on row-major ``vec(W)``: ``A^2 (x) B^2``.

    ``matvec`` applies it as ``A^2 W B^2``; ``s`` is the shared spectrum of A and B.
    """

    U: torch.Tensor
    V: torch.Tensor
    s: torch.Tensor
    n_matvec: int = 0

    def __post_init__(self) -> None:
        self.d = self.s.numel()
        self.dim = self.d * self.d
        self.device = torch.device("cpu")
        self.dtype = torch.float64
        self.A2 = self.U @ torch.diag(self.s**2) @ self.U.T
        self.B2 = self.V @ torch.diag(self.s**2) @ self.V.T

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        self.n_matvec += 1
        return (self.A2 @ v.view(self.d, self.d) @ self.B2).reshape(-1)

    def eigenpairs(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k analytic pairs: ``s_i^2 s_j^2`` with vector ``vec_r(u_i v_j^T) = u_i (x) v_j``."""
        lam = torch.outer(self.s**2, self.s**2).reshape(-1)
        order = torch.argsort(lam, descending=True, stable=True)[:k]
        i, j = order // self.d, order % self.d
        vecs = torch.stack([torch.kron(self.U[:, a], self.V[:, b]) for a, b in zip(i, j)], dim=1)
        return lam[order], vecs


def make_kronecker_awbt(d: int, kappa: float, *, fix_V: bool, seed: int) -> KroneckerAWBT:
    generator = torch.Generator().manual_seed(seed)
    s = torch.logspace(0, -math.log10(kappa) / 4, d, dtype=torch.float64)
    U = haar_orthogonal(d, generator)
    V = torch.eye(d, dtype=torch.float64) if fix_V else haar_orthogonal(d, generator)
    return KroneckerAWBT(U, V, s)


@dataclass
class MLPProblem:
    loss_fn: object
    params: list[torch.Tensor]
    hessian: torch.Tensor  # dense, (dim, dim)


def _mlp_loss(X: torch.Tensor, y: torch.Tensor):
    def loss_fn(params: list[torch.Tensor]) -> torch.Tensor:
        W1, b1, W2, b2, W3, b3 = params
        h = torch.tanh(X @ W1.T + b1)
        h = torch.tanh(h @ W2.T + b2)
        return 0.5 * ((h @ W3.T + b3 - y) ** 2).mean()

    return loss_fn


def make_mlp_problem() -> MLPProblem:
    """A 4-10-10-2 tanh MLP (182 parameters) on fixed random data, float64."""
    g = torch.Generator().manual_seed(7)
    X = torch.randn(40, 4, generator=g, dtype=torch.float64)
    y = torch.randn(40, 2, generator=g, dtype=torch.float64)
    shapes = [(10, 4), (10,), (10, 10), (10,), (2, 10), (2,)]
    params = [torch.randn(*s, generator=g, dtype=torch.float64) * 0.7 for s in shapes]
    loss_fn = _mlp_loss(X, y)
    sizes = [p.numel() for p in params]

    def flat_loss(flat: torch.Tensor) -> torch.Tensor:
        parts = [c.view(p.shape) for c, p in zip(torch.split(flat, sizes), params)]
        return loss_fn(parts)

    flat = torch.cat([p.reshape(-1) for p in params])
    H = torch.autograd.functional.hessian(flat_loss, flat)
    return MLPProblem(loss_fn, params, H)
