"""Dominant/bulk ratios and the tracker (AMUSE; SPEC section 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from diag_oracles import make_mlp_problem, orthonormal_columns

from muonlab.diagnostics import DomBulkTracker, dom_bulk_ratio, hessian_operator


def _split_basis(dim: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    full = orthonormal_columns(dim, dim, torch.Generator().manual_seed(seed))
    return full[:, :k], full[:, k:]


def test_inside_outside_and_mixed() -> None:
    Q, P = _split_basis(50, 5, seed=0)
    g = torch.Generator().manual_seed(1)
    inside = Q @ torch.randn(5, generator=g, dtype=torch.float64)
    outside = P @ torch.randn(45, generator=g, dtype=torch.float64)
    r_dom, r_bulk = dom_bulk_ratio(inside, Q)
    assert r_dom == pytest.approx(1.0, abs=1e-12) and r_bulk == pytest.approx(0.0, abs=1e-12)
    r_dom, r_bulk = dom_bulk_ratio(outside, Q)
    assert r_dom == pytest.approx(0.0, abs=1e-12) and r_bulk == pytest.approx(1.0, abs=1e-12)
    # v = 3 q + 4 p with unit q in span(Q), unit p orthogonal: r_dom = 3/5, r_bulk = 4/5.
    v = 3 * Q[:, 2] + 4 * P[:, 7]
    r_dom, r_bulk = dom_bulk_ratio(v, Q)
    assert r_dom == pytest.approx(0.6, abs=1e-12) and r_bulk == pytest.approx(0.8, abs=1e-12)


def test_pythagoras_and_scale_invariance() -> None:
    Q, _ = _split_basis(30, 4, seed=2)
    v = torch.randn(30, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    r_dom, r_bulk = dom_bulk_ratio(v, Q)
    assert r_dom**2 + r_bulk**2 == pytest.approx(1.0, abs=1e-12)
    assert r_bulk == pytest.approx(math.sqrt(1 - r_dom**2), abs=1e-12)
    assert dom_bulk_ratio(-7.5 * v, Q) == pytest.approx((r_dom, r_bulk), abs=1e-12)
    # float32 vectors are projected in Q's dtype. Bound: rounding v to float32 moves it by
    # ||dv|| <= eps32 ||v||, and ||P v|| / ||v|| (P a projection) by <= 2 ||dv|| / ||v||;
    # the float64 projection adds ~1e-16.
    assert dom_bulk_ratio(v.float(), Q) == pytest.approx((r_dom, r_bulk), abs=2 * 2.0**-24 + 1e-12)


def test_zero_vector_is_nan() -> None:
    Q, _ = _split_basis(10, 2, seed=0)
    r_dom, r_bulk = dom_bulk_ratio(torch.zeros(10, dtype=torch.float64), Q)
    assert math.isnan(r_dom) and math.isnan(r_bulk)


def test_shape_errors() -> None:
    Q, _ = _split_basis(10, 2, seed=0)
    with pytest.raises(ValueError, match="dim"):
        dom_bulk_ratio(torch.ones(9, dtype=torch.float64), Q)
    with pytest.raises(ValueError, match="flat"):
        dom_bulk_ratio(torch.ones(10, 1, dtype=torch.float64), Q)


def _mlp_with_grads():
    prob = make_mlp_problem()
    params = [torch.nn.Parameter(p.clone()) for p in prob.params]
    prob.loss_fn(params).backward()
    return prob, params


def test_tracker_schedule_and_values() -> None:
    prob, params = _mlp_with_grads()
    evecs = torch.linalg.eigh(prob.hessian).eigenvectors[:, -3:]
    calls = []

    def factory():
        calls.append(1)
        return hessian_operator(prob.loss_fn, params)

    grad = [p.grad for p in params]
    update = torch.randn(prob.hessian.shape[0], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    tracker = DomBulkTracker(3, every=4, refresh=8, tol=1e-10, seed=1)
    observed = {}
    for step in range(1, 21):
        out = tracker.update(step, factory, {"update": update, "gradient": grad})
        if out is not None:
            observed[step] = out
    assert sorted(observed) == [4, 8, 12, 16, 20]
    assert len(calls) == 3  # refreshed at steps 4, 12, 20
    assert tracker.refreshed_at == 20
    flat_grad = torch.cat([g.reshape(-1) for g in grad])
    for out in observed.values():
        assert set(out) == {"r_dom_update", "r_bulk_update", "r_dom_gradient", "r_bulk_gradient"}
        assert out["r_dom_update"] == pytest.approx(dom_bulk_ratio(update, evecs)[0], abs=1e-8)
        assert out["r_dom_gradient"] == pytest.approx(dom_bulk_ratio(flat_grad, evecs)[0], abs=1e-8)


def test_tracker_is_pure_observer() -> None:
    prob, params = _mlp_with_grads()
    before = [p.detach().clone() for p in params]
    grads = [p.grad.clone() for p in params]
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()
    tracker = DomBulkTracker(4, every=1, refresh=1, seed=0)
    tracker.update(1, lambda: hessian_operator(prob.loss_fn, params), {"gradient": [p.grad for p in params]})
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    for p, b, g in zip(params, before, grads):
        assert torch.equal(p.detach(), b) and torch.equal(p.grad, g)


def _train(track: bool) -> list[torch.Tensor]:
    # Noisy SGD that draws from the global RNG every step: any RNG use by the tracker
    # would shift the noise and change the final parameters.
    prob = make_mlp_problem()
    params = [torch.nn.Parameter(p.clone()) for p in prob.params]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    tracker = DomBulkTracker(2, every=3, refresh=6, tol=1e-6, seed=0)
    torch.manual_seed(0)
    for step in range(1, 13):
        opt.zero_grad()
        prob.loss_fn(params).backward()
        for p in params:
            p.grad.add_(0.01 * torch.randn_like(p))
        if track:
            tracker.update(step, lambda: hessian_operator(prob.loss_fn, params),
                           {"gradient": [p.grad for p in params],
                            "momentum": [opt.state[p].get("momentum_buffer", torch.zeros_like(p)) for p in params]})
        opt.step()
    return [p.detach().clone() for p in params]


def test_run_with_and_without_tracking_is_identical() -> None:
    for a, b in zip(_train(track=False), _train(track=True)):
        assert torch.equal(a, b)


def test_invalid_tracker_arguments() -> None:
    for kwargs, field in (({"k": 0, "every": 1, "refresh": 1}, "k"), ({"k": 1, "every": 0, "refresh": 1}, "every"),
                          ({"k": 1, "every": 1, "refresh": 0}, "refresh"),
                          ({"k": 1, "every": 1, "refresh": 1, "which": "SM"}, "which")):
        with pytest.raises(ValueError, match=field):
            DomBulkTracker(**kwargs)
