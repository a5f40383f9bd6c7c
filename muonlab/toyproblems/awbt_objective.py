"""The AWB-T training objective with a hand-written first-order backward (SPEC 8 seed
batching throughput, issue 16).

:func:`awbt_objective` returns ``scale/2 ||A W B - T||_F^2`` over the last two axes,
the values of :meth:`~muonlab.toyproblems.awbt.AWBT.loss`, and its backward gives
``W.grad`` with the same bits as autograd on that expression. It performs the operations
that autograd's formulas (``derivatives.yaml``) perform on the graph of
``(0.5 * scale) * (A @ W @ B - T).square().sum(dim=(-2, -1))``, in the same order and on
operands of the same layout, without recording the graph (its ~15 nodes cost as much
as two elementwise passes over a ``(32, 64, 64)`` batch):

1. ``MulBackward0``: ``g_q = grad * (0.5 * scale)``;
2. ``SumBackward1`` broadcasts ``g_q`` over the matrix; ``PowBackward0`` of ``square``
   (``pow(R, 2)``): ``grad * (2.0 * R.pow(1.0))``, where ``R.pow(1.0)`` is a copy of R:
   ``g_R = g_q[..., None, None] * (R * 2.0)`` (each product rounded once, as there);
3. ``SubBackward0`` passes ``g_R`` on to ``P = (A W) B``;
4. ``MmBackward0`` / ``BmmBackward0`` (``matmul`` of two matrices is ``mm``, of two
   ``(S, d, d)`` batches ``bmm``): ``g_AW = g_R @ B^T``, then ``g_W = A^T @ g_AW``. For
   row-major operands (``W``, ``A`` and ``A W`` are) the ``mm`` formulas take exactly
   these products; a column-major ``W`` or ``A`` would make autograd transpose them, so
   the function is used for contiguous operands only (:func:`supports`).

Second derivatives are not provided (the Hessian diagnostics differentiate
:meth:`~muonlab.toyproblems.awbt.AWBT.loss` itself).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class _AWBTObjective(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, W: Tensor, A: Tensor, B: Tensor, T: Tensor, half_scale: float) -> Tensor:
        R = A @ W @ B - T
        ctx.save_for_backward(A, B, R)
        ctx.half_scale = half_scale
        return half_scale * R.square().sum(dim=(-2, -1))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        A, B, R = ctx.saved_tensors
        g_q = grad * ctx.half_scale
        g_R = g_q.unsqueeze(-1).unsqueeze(-1) * (R * 2.0)
        g_W = A.mT @ (g_R @ B.mT)
        return g_W, None, None, None, None


def supports(W: Tensor, A: Tensor, B: Tensor) -> bool:
    """Whether :func:`awbt_objective` reproduces autograd's bits for these operands: all
    contiguous (row-major), W of A's shape (``(d, d)`` or ``(S, d, d)``), A and B not
    requiring gradients."""
    return (W.shape == A.shape == B.shape and W.is_contiguous() and A.is_contiguous() and B.is_contiguous()
            and not (A.requires_grad or B.requires_grad))


def awbt_objective(W: Tensor, A: Tensor, B: Tensor, T: Tensor, scale: float) -> Tensor:
    """``scale/2 ||A W B - T||_F^2`` over the last two axes (0-d, or ``(S,)`` for a batch),
    differentiable once in ``W`` with autograd's bits (module docstring)."""
    return _AWBTObjective.apply(W, A, B, T, 0.5 * scale)
