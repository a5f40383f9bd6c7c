"""Orthogonalisation: quintic Newton-Schulz (NS5) and the exact SVD polar factor.

SPEC-optim preamble: ``X <- X / (||X||_F + 1e-7)``; if ``m > n`` work on ``X^T`` (the
smaller Gram matrix); repeat ``steps`` times ``A = X X^T; B = b A + c A A; X = a X + B X``
with ``(a, b, c) = (3.4445, -4.7750, 2.0315)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

NS_COEFFICIENTS: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)
NS_EPS = 1e-7
_METHODS = ("ns5", "svd")
_NS_DTYPES = (torch.float32, torch.bfloat16)


def _addmm(bias: Tensor, left: Tensor, right: Tensor, *, beta: float, alpha: float) -> Tensor:
    # addmm/baddbmm fuse ``beta * bias + alpha * left @ right``; the 2-D path uses the same
    # kernel sequence as torch.optim.Muon so bfloat16 results agree with it.
    if bias.ndim == 2:
        return torch.addmm(bias, left, right, beta=beta, alpha=alpha)
    return torch.baddbmm(bias, left, right, beta=beta, alpha=alpha)


def newton_schulz5(G: Tensor, steps: int = 5, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """NS5 approximation of the polar factor of ``G`` (``(m, n)`` or ``(..., m, n)``).

    Returns a tensor of ``dtype``; each matrix of a batch is normalised by its own
    Frobenius norm.
    """
    a, b, c = NS_COEFFICIENTS
    batch_shape = G.shape[:-2]
    X = G.to(dtype)
    if X.ndim > 3:
        X = X.reshape(-1, *X.shape[-2:])
    transposed = X.size(-2) > X.size(-1)
    if transposed:
        X = X.mT
    X = X / (X.norm(dim=(-2, -1), keepdim=True) + NS_EPS)
    for _ in range(steps):
        A = X @ X.mT
        B = _addmm(A, A, A, beta=b, alpha=c)
        X = _addmm(X, B, X, beta=a, alpha=1.0)
    if transposed:
        X = X.mT
    return X.reshape(*batch_shape, *X.shape[-2:])


def polar_factor(G: Tensor) -> Tensor:
    """Exact polar factor ``U V^T`` of ``G = U S V^T`` (reduced SVD), per matrix.

    Computed in ``G``'s precision, at least float32.
    """
    work = G.to(torch.promote_types(G.dtype, torch.float32))
    U, _, Vh = torch.linalg.svd(work, full_matrices=False)
    return U @ Vh


def zeropower(
    G: Tensor,
    steps: int = 5,
    method: str = "ns5",
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Orthogonalise ``G`` (a matrix or a batch ``(..., m, n)``), SPEC section 1.

    ``method="ns5"``: ``steps`` quintic Newton-Schulz iterations in ``dtype``
    (float32 or bfloat16). ``method="svd"``: the exact polar factor ``U V^T`` for
    reference (``steps`` and ``dtype`` are not used).
    """
    if G.ndim < 2:
        raise ValueError(f"zeropower: G must have at least 2 dimensions (..., m, n), got shape {tuple(G.shape)}")
    if method == "svd":
        return polar_factor(G)
    if method != "ns5":
        raise ValueError(f"zeropower: method must be one of {_METHODS}, got {method!r}")
    if dtype not in _NS_DTYPES:
        raise ValueError(f"zeropower: dtype must be torch.float32 or torch.bfloat16, got {dtype}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"zeropower: steps must be an integer >= 0, got {steps!r}")
    return newton_schulz5(G, steps, dtype=dtype)
