import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from muonlab.toyproblems import DigitsMLP, DigitsMLPBatch


@pytest.fixture(scope="module")
def problem():
    return DigitsMLP(seed=1, hidden=16, batch_size=32)


def test_shapes_split_and_standardisation(problem):
    assert problem.X_train.shape[1] == 64 and problem.X_train.shape[0] + problem.X_test.shape[0] == 1797
    assert problem.X_test.shape[0] == 360  # ceil(0.2 * 1797), sklearn convention
    # stratified: every class in the test split
    assert set(problem.y_test.tolist()) == set(range(10))
    mean, std = problem.X_train.mean(0), problem.X_train.std(0, unbiased=False)
    assert mean.abs().max() < 1e-5
    varying = std > 0
    # bound: float32 mean and variance over N = 1437 rows, <= N eps32 ~ 8.6e-5 relative
    torch.testing.assert_close(std[varying], torch.ones(int(varying.sum())), atol=1e-4, rtol=0)
    # the split is a partition of the data set: class counts add up to the full set's
    _, y = load_digits(return_X_y=True)
    counts = torch.bincount(problem.y_train, minlength=10) + torch.bincount(problem.y_test, minlength=10)
    assert counts.tolist() == np.bincount(y).tolist()
    shapes = [tuple(p.shape) for p in problem.model.parameters()]
    assert shapes == [(16, 64), (16,), (16, 16), (16,), (10, 16), (10,)]


def test_determinism_and_seed_dependence():
    a, b, c = DigitsMLP(seed=3, hidden=8), DigitsMLP(seed=3, hidden=8), DigitsMLP(seed=4, hidden=8)
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    assert not torch.equal(a.model[0].weight, c.model[0].weight)
    assert torch.equal(a.X_test, b.X_test) and not torch.equal(a.X_test, c.X_test)
    Xa, ya = a.batch(7)
    Xb, yb = b.batch(7)
    assert torch.equal(Xa, Xb) and torch.equal(ya, yb) and Xa.shape == (64, 64)
    assert not torch.equal(a.batch(8)[0], Xa)
    assert torch.equal(a.batch_loss(7), b.batch_loss(7))


def test_init_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DigitsMLP(seed=0, hidden=8)
    assert torch.equal(torch.rand(3), expected)


def test_init_matches_nn_linear_default_scale(problem):
    w = problem.model[0].weight
    bound = 1 / np.sqrt(64)  # kaiming_uniform(a=sqrt 5) -> U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.9 * bound


def test_loss_functional_and_accuracy(problem):
    X, y = problem.batch(1)
    ref = torch.nn.functional.cross_entropy(problem.model(X), y)
    params = dict(problem.model.named_parameters())
    torch.testing.assert_close(problem.loss(X, y), ref)
    torch.testing.assert_close(problem.loss(X, y, params), ref)
    torch.testing.assert_close(problem.loss_fn(X, y)(list(problem.model.parameters())), ref)
    # untrained accuracy ~ chance; a few full-batch Adam steps on a copy learn the task
    acc0 = problem.accuracy().item()
    assert 0.0 <= acc0 <= 0.4
    trained = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(trained.values(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        problem.loss(problem.X_train, problem.y_train, trained).backward()
        opt.step()
    assert problem.accuracy(trained).item() > 0.9
    assert problem.test_loss(trained).item() < problem.test_loss().item()


def test_ensemble_matches_each_seed():
    seeds = [0, 2, 5]
    ens = DigitsMLPBatch.from_seeds(seeds, hidden=8, batch_size=16)
    params = ens.init_params()
    assert params["0.weight"].shape == (3, 8, 64)
    X, y = ens.batch(4)
    assert X.shape == (3, 16, 64) and y.shape == (3, 16)
    losses, acc = ens.loss(params, X, y), ens.accuracy(params)
    for i, s in enumerate(seeds):
        single = DigitsMLP(seed=s, hidden=8, batch_size=16)
        torch.testing.assert_close(losses[i], single.batch_loss(4), rtol=0, atol=_float32_loss_bound(single, 4))
        # A test sample's argmax is decided alike on both sides when its top two logits are
        # further apart than both sides' forward errors (a decision margin, 4 max dz); only
        # the others may differ, each by 1 / N, and each mean rounds once (eps32).
        z, dz = _forward_f64(single, single.X_test)
        top2 = z.topk(2, dim=1).values
        undecided = int((top2[:, 0] - top2[:, 1] <= 4 * dz.max(dim=1).values).sum())
        assert undecided < 0.05 * len(z)  # the check still has teeth
        torch.testing.assert_close(acc[i], single.accuracy(), rtol=0, atol=undecided / len(z) + 2 * 2.0**-24)
    # gradients flow per seed through the vmapped loss
    trainable = {k: v.requires_grad_(True) for k, v in params.items()}
    ens.batch_loss(trainable, 4).sum().backward()
    single = DigitsMLP(seed=2, hidden=8, batch_size=16)
    single.batch_loss(4).backward()
    bound = _float32_first_layer_grad_bound(single, 4)
    assert (bound < 0.01 * single.model[0].weight.grad.double().abs().max()).all()  # << the gradient's size
    assert ((trainable["0.weight"].grad[1].double() - single.model[0].weight.grad.double()).abs() <= bound).all()


@pytest.mark.parametrize("kw, field", [({"hidden": 0}, "hidden"), ({"batch_size": 0}, "batch_size"),
                                       ({"batch_size": 5000}, "batch_size"), ({"test_fraction": 1.0}, "test_fraction"),
                                       ({"activation": "gelu"}, "activation"), ({"seed": -2}, "seed")])
def test_bad_input(kw, field):
    with pytest.raises(ValueError, match=field):
        DigitsMLP(**kw)


def _forward_f64(problem: DigitsMLP, X: torch.Tensor, keep: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits in float64 at the float32 parameters and one side's per-entry forward
    error bound (as in _float32_loss_bound: (k + 1) eps (|a| |W| + |b|) per linear layer plus
    |W| times its input's error; ReLU is 1-Lipschitz and exact). ``keep`` collects each
    layer's (input, input error, pre-activation, its error, W) for the backward bound."""
    eps = 2.0**-24
    a, da = X.double(), torch.zeros(X.shape, dtype=torch.float64)
    layers = [m for m in problem.model if isinstance(m, torch.nn.Linear)]
    assert problem.activation == "relu"
    for i, layer in enumerate(layers):
        W, b = layer.weight.double(), layer.bias.double()
        z = a @ W.T + b
        dz = da @ W.abs().T + (W.shape[1] + 1) * eps * (a.abs() @ W.abs().T + b.abs())
        if keep is not None:
            keep.append((a, da, z, dz, W))
        a, da = torch.relu(z), dz
    return z, dz


def _float32_first_layer_grad_bound(problem: DigitsMLP, step: int) -> torch.Tensor:
    """Per-entry bound on |vmapped - single| of the first layer's weight gradient of the
    mini-batch cross-entropy (the two differ only in summation order; twice one side's).

    Per side, first order in float64 at the same float32 inputs (eps = 2**-24): the logits'
    forward error dz (_forward_f64) moves softmax p by <= p (dz + sum_j p_j dz_j), plus its
    exp, sum and division's (C + 3) eps p; dL/dz = (p - onehot) / B rounds once more. Each
    linear layer's backward delta W adds |delta| |W| times k eps and passes the error
    through |W|; ReLU' is 0 or 1, the same on both sides when no pre-activation lies within
    its forward error of 0 (a decision margin, asserted). The weight gradient delta^T X
    sums B products: B eps |delta|^T |X| plus the deltas' error through |X|.
    """
    eps = 2.0**-24
    X, y = problem.batch(step)
    keep: list = []
    z, dz = _forward_f64(problem, X, keep)
    B, C = z.shape
    p = torch.softmax(z, dim=1)
    g = (p - torch.nn.functional.one_hot(y, C).double()) / B
    dg = (p * (dz + (p * dz).sum(dim=1, keepdim=True)) + (C + 3) * eps * p) / B + eps * g.abs()
    for layer in (2, 1):  # back through layers 3 and 2 to layer 1's pre-activation
        W = keep[layer][4]
        z_prev, dz_prev = keep[layer - 1][2], keep[layer - 1][3]
        assert (z_prev.abs() > dz_prev).all()  # ReLU' decided alike (margin)
        active = (z_prev > 0).double()
        g, dg = (g @ W) * active, (dg @ W.abs() + W.shape[0] * eps * (g.abs() @ W.abs())) * active
    X64 = keep[0][0]
    return 2 * (dg.T @ X64.abs() + B * eps * (g.abs().T @ X64.abs()))


def _float32_loss_bound(problem: DigitsMLP, step: int) -> float:
    """Bound on |vmapped - single| of the float32 mini-batch cross-entropy: the two differ
    only in summation order, each within this bound of the exact value, hence twice it.

    Per side, first order in float64 at the same float32 inputs (eps = 2**-24): a linear
    layer of fan-in k is off by <= (k + 1) eps (|W| |a| + |b|) plus |W| times its input's
    error; ReLU and tanh are 1-Lipschitz (tanh: + eps |tanh|); the cross-entropy moves by
    <= sum_j |softmax_j - onehot_j| dz_j plus the log-sum-exp's (10 + 4) eps (|CE| + max |z|);
    the batch mean adds B eps |loss|.
    """
    eps = 2.0**-24
    X, y = problem.batch(step)
    a, da = X.double(), torch.zeros(X.shape, dtype=torch.float64)
    layers = [m for m in problem.model if isinstance(m, torch.nn.Linear)]
    for i, layer in enumerate(layers):
        W, b = layer.weight.double(), layer.bias.double()
        k = W.shape[1]
        z = a @ W.T + b
        dz = da @ W.abs().T + (k + 1) * eps * (a.abs() @ W.abs().T + b.abs())
        if i < len(layers) - 1:
            a = torch.relu(z) if problem.activation == "relu" else torch.tanh(z)
            da = dz + eps * a.abs()
    p = torch.softmax(z, dim=1)
    ce = torch.nn.functional.cross_entropy(z, y, reduction="none")
    onehot = torch.nn.functional.one_hot(y, z.shape[1]).double()
    d_ce = ((p - onehot).abs() * dz).sum(dim=1) + (z.shape[1] + 4) * eps * (ce.abs() + z.abs().max(dim=1).values)
    return 2 * (d_ce.mean().item() + len(y) * eps * ce.mean().item())