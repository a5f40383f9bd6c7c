"""The AWB-T training objective (hand-written backward) against autograd on ``loss``:
the same loss values and the same gradient bits, single and seed-batched, float32 and
float64, at several loss scales and distances from the optimum (issue 16: the speed-up
must not change any study's bytes)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from muonlab.toyproblems import AWBT, AWBTBatch
from muonlab.toyproblems.awbt_objective import supports


def _loss_and_grad(loss: torch.Tensor, W: nn.Parameter) -> tuple[torch.Tensor, torch.Tensor]:
    (loss if loss.ndim == 0 else loss.sum()).backward()  # the runner's objective (task.summed)
    return loss.detach(), W.grad


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1.0, 3.7, 1e5])
@pytest.mark.parametrize("batched", [False, True])
def test_objective_has_autograd_bits(dtype, scale, batched):
    kwargs = dict(d=16, kappa=1e4, fix_V=False, scale=scale, dtype=dtype)
    problem = AWBTBatch.from_seeds([0, 1, 2], **kwargs) if batched else AWBT(seed=4, **kwargs)
    g = torch.Generator().manual_seed(0)
    for spread in (1e-3, 1.0, 1e2):
        W0 = problem.W0 + spread * torch.randn(problem.W0.shape, generator=g, dtype=dtype)
        plain, fused = nn.Parameter(W0.clone()), nn.Parameter(W0.clone())
        assert supports(fused, problem.A, problem.B)
        loss_a, grad_a = _loss_and_grad(problem.loss(plain), plain)
        loss_b, grad_b = _loss_and_grad(problem.objective(fused), fused)
        assert torch.equal(loss_a, loss_b) and torch.equal(grad_a, grad_b)


def test_objective_falls_back_for_column_major_W():
    # A transposed (column-major) W would make autograd's mm formulas transpose; the
    # objective then is plain ``loss`` (same bits by construction).
    problem = AWBT(d=8, seed=1)
    W = nn.Parameter(problem.W0.clone().mT.contiguous().mT)
    assert not supports(W, problem.A, problem.B)
    loss_a, grad_a = _loss_and_grad(problem.loss(W), W)
    W.grad = None
    loss_b, grad_b = _loss_and_grad(problem.objective(W), W)
    assert torch.equal(loss_a, loss_b) and torch.equal(grad_a, grad_b)
