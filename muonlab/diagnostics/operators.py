"""What the eigen-solvers multiply: the ``Operator`` protocol and its implementations.

Separating the operator from the iteration (hessian-eigenthings layout) lets Lanczos be
tested on a plain symmetric matrix and used on a Hessian unchanged (SPEC section 10).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import torch

from .hvp import LossFn, make_hvp


@runtime_checkable
class Operator(Protocol):
    """A symmetric linear map on flat vectors of length ``dim``."""

    dim: int
    device: torch.device
    dtype: torch.dtype

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Return ``A v`` for a flat ``v`` of shape ``(dim,)``."""
        ...


class MatrixOperator:
    """A dense symmetric matrix as an ``Operator``; counts its products in ``n_matvec``."""

    def __init__(self, matrix: torch.Tensor) -> None:
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square (n, n), got shape {tuple(matrix.shape)}")
        self.matrix = matrix
        self.dim = matrix.shape[0]
        self.device = matrix.device
        self.dtype = matrix.dtype
        self.n_matvec = 0

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        self.n_matvec += 1
        return self.matrix @ v


class MatvecOperator:
    """Any symmetric ``matvec`` function as an ``Operator`` (e.g. a problem's analytic
    Hessian product, ``AWBT.hessian_matvec``); counts its products in ``n_matvec``."""

    def __init__(self, matvec: Callable[[torch.Tensor], torch.Tensor], dim: int, device: torch.device, dtype: torch.dtype) -> None:
        self._apply = matvec
        self.dim, self.device, self.dtype = dim, device, dtype
        self.n_matvec = 0

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        self.n_matvec += 1
        return self._apply(v)


class HessianOperator:
    """The Hessian of a functional loss at fixed parameters; counts HVPs in ``n_matvec``.

    Vectors are flat in the order of ``params``, each flattened row-major. The operator
    aliases the parameters' storage (no copy): it describes the Hessian at their current
    values and must be rebuilt after they change.
    """

    def __init__(
        self, loss_fn: LossFn, params: Sequence[torch.Tensor], *, method: str = "double_backward"
    ) -> None:
        self._apply = make_hvp(loss_fn, params, method=method)
        self.dim = sum(p.numel() for p in params)
        self.device = params[0].device
        self.dtype = params[0].dtype
        self.n_matvec = 0

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        self.n_matvec += 1
        return self._apply(v)


def hessian_operator(
    loss_fn: LossFn, params: Sequence[torch.Tensor], *, method: str = "double_backward"
) -> HessianOperator:
    """Hessian of ``loss_fn`` at ``params`` as an ``Operator`` (SPEC section 10).

    ``method``: ``"double_backward"`` (gradient graph built once, reused per product) or
    ``"forward_over_reverse"`` (``torch.func.jvp`` of ``torch.func.grad``).
    """
    return HessianOperator(loss_fn, params, method=method)
