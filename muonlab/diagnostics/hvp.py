"""Hessian-vector products of a functional loss (SPEC section 4 "HVP").

``loss_fn(params: list[Tensor]) -> scalar`` computes the loss from the tensors it is
given; vectors are flat, each parameter flattened row-major in the order of ``params``.
Both engines work on detached aliases of the parameters, so the caller's tensors, their
``.grad`` and their autograd graph are never touched; products run on the loss's device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

LossFn = Callable[[list[torch.Tensor]], torch.Tensor]

HVP_METHODS = ("double_backward", "forward_over_reverse")


def _check_params(params: Sequence[torch.Tensor]) -> None:
    if len(params) == 0:
        raise ValueError("params must be a non-empty list of tensors, got an empty list")
    dtypes = {p.dtype for p in params}
    devices = {p.device for p in params}
    if len(dtypes) != 1 or len(devices) != 1:
        raise ValueError(
            f"params must share one dtype and device, got dtypes {sorted(map(str, dtypes))} "
            f"and devices {sorted(map(str, devices))}"
        )
    if not dtypes.pop().is_floating_point:
        raise ValueError("params must be floating-point tensors")


def split_flat(flat: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Split a flat vector into views shaped like ``like`` (row-major, in order)."""
    sizes = [p.numel() for p in like]
    if flat.ndim != 1 or flat.numel() != sum(sizes):
        raise ValueError(f"vector must be flat with {sum(sizes)} entries, got shape {tuple(flat.shape)}")
    return [chunk.view(p.shape) for chunk, p in zip(torch.split(flat, sizes), like)]


def flatten(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one flat vector (row-major, in order)."""
    return torch.cat([t.reshape(-1) for t in tensors])


class DoubleBackwardHVP:
    """``v -> H v`` by double backward; the gradient graph is built once and reused.

    Memory: the graph of ``grad(loss)`` stays alive as long as this object does.
    """

    def __init__(self, loss_fn: LossFn, params: Sequence[torch.Tensor]) -> None:
        _check_params(params)
        # Detached aliases: the caller's leaves never enter our graph, so their .grad
        # cannot be accumulated into and their version counters are untouched.
        self._leaves = [p.detach().requires_grad_(True) for p in params]
        with torch.enable_grad():
            loss = loss_fn(self._leaves)
            grads = torch.autograd.grad(
                loss, self._leaves, create_graph=True, allow_unused=True, materialize_grads=True
            )
        # A gradient without a graph is constant in the parameters (linear loss term):
        # its Hessian block is zero and it must not be differentiated again.
        self._live = [i for i, g in enumerate(grads) if g.requires_grad]
        self._grads = [grads[i] for i in self._live]

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        parts = split_flat(v, self._leaves)
        if not self._grads:
            return torch.zeros_like(v)
        hv = torch.autograd.grad(
            self._grads,
            self._leaves,
            grad_outputs=[parts[i] for i in self._live],
            retain_graph=True,
            allow_unused=True,
            materialize_grads=True,
        )
        return flatten(hv).detach()


class ForwardOverReverseHVP:
    """``v -> H v`` as ``jvp(grad(loss))`` with ``torch.func`` (no retained graph)."""

    def __init__(self, loss_fn: LossFn, params: Sequence[torch.Tensor]) -> None:
        _check_params(params)
        self._leaves = [p.detach() for p in params]
        self._grad_fn = torch.func.grad(lambda ps: loss_fn(list(ps)))

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        tangents = split_flat(v, self._leaves)
        _, hv = torch.func.jvp(self._grad_fn, (tuple(self._leaves),), (tuple(tangents),))
        return flatten(hv).detach()


def make_hvp(
    loss_fn: LossFn, params: Sequence[torch.Tensor], *, method: str = "double_backward"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Build a reusable flat ``v -> H v`` map for ``loss_fn`` at ``params``."""
    if method == "double_backward":
        return DoubleBackwardHVP(loss_fn, params)
    if method == "forward_over_reverse":
        return ForwardOverReverseHVP(loss_fn, params)
    raise ValueError(f"method must be one of {HVP_METHODS}, got {method!r}")


def hvp(
    loss_fn: LossFn,
    params: Sequence[torch.Tensor],
    vectors: torch.Tensor,
    *,
    method: str = "double_backward",
) -> torch.Tensor:
    """Hessian-vector products ``H v`` of ``loss_fn`` at ``params``.

    ``vectors`` is one flat vector ``(dim,)`` or ``dim x n`` columns; the result has the
    same shape, dtype and device as the parameters' products. The gradient graph (or the
    ``torch.func`` transform) is built once and reused for every column.
    """
    if vectors.ndim not in (1, 2):
        raise ValueError(f"vectors must have shape (dim,) or (dim, n), got {tuple(vectors.shape)}")
    apply = make_hvp(loss_fn, params, method=method)
    ref = params[0]
    vectors = vectors.to(device=ref.device, dtype=ref.dtype)
    if vectors.ndim == 1:
        return apply(vectors)
    return torch.stack([apply(col) for col in vectors.unbind(dim=1)], dim=1)
