"""HVP engines against the dense Hessian of ``torch.autograd.functional.hessian``."""

from __future__ import annotations

import pytest
import torch
from diag_oracles import make_mlp_problem

from muonlab.diagnostics import HessianOperator, hessian_operator, hvp

METHODS = ["double_backward", "forward_over_reverse"]


@pytest.mark.parametrize("method", METHODS)
def test_hvp_equals_dense_hessian(method: str) -> None:
    prob = make_mlp_problem()
    dim = prob.hessian.shape[0]
    V = torch.randn(dim, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(hvp(prob.loss_fn, prob.params, V, method=method), prob.hessian @ V,
                               rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(hvp(prob.loss_fn, prob.params, V[:, 0], method=method), prob.hessian @ V[:, 0],
                               rtol=1e-10, atol=1e-12)


def test_two_engines_agree() -> None:
    prob = make_mlp_problem()
    v = torch.randn(prob.hessian.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a = hvp(prob.loss_fn, prob.params, v, method="double_backward")
    b = hvp(prob.loss_fn, prob.params, v, method="forward_over_reverse")
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", METHODS)
def test_params_and_grads_untouched(method: str) -> None:
    prob = make_mlp_problem()
    params = [torch.nn.Parameter(p.clone()) for p in prob.params]
    for p in params:
        p.grad = torch.full_like(p, 0.25)
    before = [p.detach().clone() for p in params]
    versions = [p._version for p in params]
    op = hessian_operator(prob.loss_fn, params, method=method)
    for seed in range(3):
        op.matvec(torch.randn(op.dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    for p, b, version in zip(params, before, versions):
        assert torch.equal(p.detach(), b) and p._version == version
        assert torch.equal(p.grad, torch.full_like(p, 0.25))
        assert p.requires_grad and p.grad_fn is None


def test_operator_counts_and_layout() -> None:
    prob = make_mlp_problem()
    op = hessian_operator(prob.loss_fn, prob.params)
    assert isinstance(op, HessianOperator)
    assert op.dim == sum(p.numel() for p in prob.params) == prob.hessian.shape[0]
    assert op.dtype == torch.float64 and op.device == torch.device("cpu")
    # Row-major flat layout in params order: unit vector e_i picks Hessian column i.
    for i in (0, 39, op.dim - 1):
        e = torch.zeros(op.dim, dtype=torch.float64)
        e[i] = 1.0
        torch.testing.assert_close(op.matvec(e), prob.hessian[:, i], rtol=1e-10, atol=1e-12)
    assert op.n_matvec == 3


@pytest.mark.parametrize("method", METHODS)
def test_unused_and_linear_parameters_have_zero_blocks(method: str) -> None:
    # x enters quadratically, c linearly (its gradient has no graph), z not at all.
    x = torch.tensor([1.0, -2.0], dtype=torch.float64)
    c = torch.tensor([3.0], dtype=torch.float64)
    z = torch.tensor([0.5, 0.5], dtype=torch.float64)

    def loss_fn(ps: list[torch.Tensor]) -> torch.Tensor:
        return (ps[0] ** 2).sum() * 1.5 + 2.0 * ps[1].sum()

    v = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64)
    out = hvp(loss_fn, [x, c, z], v, method=method)
    torch.testing.assert_close(out, torch.tensor([3.0, 6.0, 0.0, 0.0, 0.0], dtype=torch.float64))


def test_invalid_inputs() -> None:
    prob = make_mlp_problem()
    with pytest.raises(ValueError, match="method"):
        hvp(prob.loss_fn, prob.params, torch.zeros(182, dtype=torch.float64), method="finite_difference")
    with pytest.raises(ValueError, match="vector"):
        hvp(prob.loss_fn, prob.params, torch.zeros(181, dtype=torch.float64))
    with pytest.raises(ValueError, match="vectors"):
        hvp(prob.loss_fn, prob.params, torch.zeros(2, 182, 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="params"):
        hessian_operator(prob.loss_fn, [])
    with pytest.raises(ValueError, match="dtype"):
        hessian_operator(prob.loss_fn, [prob.params[0], prob.params[1].float()])
