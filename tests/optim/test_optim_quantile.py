"""``muonlab.optim.quantile`` and the lazy statistics against the code they replace:
``torch.quantile`` / ``amax`` and the eager reductions, bit for bit (the studies'
numbers must not change)."""

import pytest

import torch

from muonlab.optim import build
from muonlab.optim.quantile import quantile

SHAPES = [(1,), (2,), (7,), (64,), (65,), (3, 64), (32, 64), (32, 17), (4, 5, 31)]


def _samples(shape, seed):
    g = torch.Generator().manual_seed(seed)
    # Energies-like data spanning many binades (heavy tail), as TrasMuon's r_j.
    return torch.randn(shape, generator=g).square() * torch.exp(3 * torch.randn(shape, generator=g))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("q", [0.0, 0.05, 0.5, 0.95, 0.99, 1.0])
def test_quantile_is_torch_quantile_bit_for_bit(shape, q):
    for seed in range(5):
        x = _samples(shape, seed)
        expected = torch.quantile(x, q, dim=-1)
        got = quantile(x, q)
        assert got.shape == expected.shape and got.dtype == expected.dtype
        assert torch.equal(got, expected)


@pytest.mark.parametrize("shape", [(9,), (8,), (32, 64)])
def test_quantile_nonfinite_rows_match_torch(shape):
    x = _samples(shape, 0)
    x.view(-1)[3] = float("inf")
    x[..., -2] = float("inf")
    got, expected = quantile(x, 0.95), torch.quantile(x, 0.95, dim=-1)
    assert torch.equal(got.isnan(), expected.isnan())
    assert torch.equal(got.nan_to_num(), expected.nan_to_num())
    x.view(-1)[5] = float("nan")  # one NaN makes its row NaN, as in torch
    got, expected = quantile(x, 0.5), torch.quantile(x, 0.5, dim=-1)
    assert torch.equal(got.isnan(), expected.isnan()) and bool(got.isnan().any())
    assert torch.equal(got.nan_to_num(), expected.nan_to_num())


def test_quantile_rejects_q_outside_unit_interval():
    with pytest.raises(ValueError, match="q must be in"):
        quantile(torch.ones(3), 1.5)


def _eager_trasmuon_stats(opt, params):
    """The statistics as the former eager code computed them (torch.quantile, amax)."""
    stats = opt._pending_stats
    r = torch.cat(stats._ratios, dim=-1)
    c = torch.cat(stats._scales, dim=-1)
    sq = torch.stack([u.float().square().sum(dim=tuple(range(stats.batch_ndim, u.ndim))) * (s * s)
                      for u, s in stats._updates]).sum(dim=0)
    return {
        "update_fro": sq.sqrt(),
        "update_rms": (sq / stats._numel).sqrt(),
        "r_q95": torch.quantile(r, 0.95, dim=-1),
        "r_max": r.amax(dim=-1),
        "c_used_min": c.amin(dim=-1),
        "c_used_mean": c.mean(dim=-1),
        "eta_hat": torch.stack(stats._means["eta_hat"]).mean(dim=0),
    }


@pytest.mark.parametrize("batched", [False, True])
def test_lazy_trasmuon_stats_equal_the_eager_reduction(batched):
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 8, 6), (3, 5, 8)] if batched else [(8, 6), (5, 8)]
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in shapes]
    opt = build("trasmuon", params, lr=0.01, T_w=1, batched=batched)
    for _ in range(4):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        opt.step()
    expected = _eager_trasmuon_stats(opt, params)
    got = opt.last_stats_tensors()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    assert opt.last_stats_tensors().keys() == got.keys()  # reading twice is stable


def test_sf_adamw_change_stats_equal_a_cloned_difference():
    g = torch.Generator().manual_seed(1)
    params = [torch.nn.Parameter(torch.randn(s, generator=g)) for s in [(16, 8), (8,)]]
    opt = build("sf-adamw", params, lr=0.01)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(p.shape, generator=g)
        before = [p.detach().clone() for p in params]
        opt.step()
        sq = torch.stack([(p.detach() - b).square().sum() for p, b in zip(params, before)]).sum()
        stats = opt.last_stats_tensors()
        assert torch.equal(stats["update_fro"], sq.sqrt())
        assert torch.equal(stats["update_rms"], (sq / 136).sqrt())
