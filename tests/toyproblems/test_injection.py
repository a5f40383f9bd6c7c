import math

import numpy as np
import pytest
import torch

from muonlab.toyproblems import AWBT, OutlierInjection, OutlierInjectionBatch
from muonlab.toyproblems.injection import InjectionEvent

f64 = torch.float64


def _rand(*shape, seed=0, dtype=f64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_schedule_defaults_and_t_start():
    inj = OutlierInjection()
    assert (inj.K_out, inj.s, inj.a, inj.t_start, inj.site, inj.mode) == (50, 2, 10.0, 50, "momentum", "multiplicative")
    assert inj.event_steps(200) == [50, 100, 150, 200]
    assert [t for t in range(0, 201) if inj.is_event(t)] == [50, 100, 150, 200]
    late = OutlierInjection(K_out=10, t_start=35)
    assert late.event_steps(70) == [40, 50, 60, 70]
    assert not late.is_event(30) and late.is_event(40) and not late.is_event(41)


def test_identity_basis_scales_exactly_columns_J():
    inj = OutlierInjection(K_out=5, s=3, a=10.0, seed=7)
    M = _rand(6, 8)
    before = M.clone()
    assert not inj.apply(M, 4) and torch.equal(M, before)
    assert inj.apply(M, 5)
    (event,) = inj.events
    J = list(event.columns)
    assert event.step == 5 and len(set(J)) == 3 and J == sorted(J)
    others = [j for j in range(8) if j not in J]
    assert torch.equal(M[:, others], before[:, others])  # untouched columns bit-identical
    torch.testing.assert_close(M[:, J], 10.0 * before[:, J], rtol=1e-15, atol=0)
    # energy of selected columns grows by a^2
    E0, E1 = before.square().sum(0), M.square().sum(0)
    torch.testing.assert_close(E1[J], 100 * E0[J])


def test_general_basis_formula():
    p = AWBT(d=6, fix_V=False, seed=1, dtype=f64)
    inj = OutlierInjection(K_out=1, s=2, a=4.0, seed=3)
    M = _rand(6, 6, seed=2)
    before = M.clone()
    inj.apply(M, 9, V=p.V)
    J = list(inj.events[0].columns)
    # independent transcription: in the feature coordinates MV, columns J are scaled by a
    MV = before @ p.V
    MV[:, J] *= 4.0
    torch.testing.assert_close(M, MV @ p.V.T, atol=1e-13, rtol=0)


def test_J_is_seeded_by_seed_and_step_and_identical_across_instances():
    a, b = OutlierInjection(K_out=2, s=2, seed=5), OutlierInjection(K_out=2, s=2, seed=5)
    for t in range(1, 41):
        a.apply(torch.ones(4, 16), t)
    for t in range(2, 41, 2):  # b sees only event steps, in a different history
        b.apply(torch.zeros(4, 16), t)
    assert a.events == b.events and len(a.events) == 20
    assert len({e.columns for e in a.events}) > 5  # random mode: J varies
    c = OutlierInjection(K_out=2, s=2, seed=6)
    for t in range(2, 41, 2):
        c.apply(torch.ones(4, 16), t)
    assert [e.columns for e in c.events] != [e.columns for e in a.events]
    assert a.draw(10, 4, 16)[0].tolist() == list(a.events[4].columns)


def test_fixed_J_mode_uses_one_J():
    inj = OutlierInjection(K_out=3, s=4, seed=2, J_mode="fixed")
    for t in range(1, 31):
        inj.apply(torch.ones(5, 10), t)
    assert len(inj.events) == 10 and len({e.columns for e in inj.events}) == 1


def test_additive_mode_adds_normalized_directions():
    inj = OutlierInjection(K_out=1, s=2, mode="additive", rho=3.0, site="gradient", seed=4)
    g = _rand(5, 7, seed=8)
    before = g.clone()
    inj.apply(g, 3)
    J = list(inj.events[0].columns)
    alpha = 3.0 * torch.linalg.norm(before) / math.sqrt(35)
    delta = g - before
    others = [j for j in range(7) if j not in J]
    assert torch.equal(delta[:, others], torch.zeros(5, len(others), dtype=f64))
    torch.testing.assert_close(torch.linalg.norm(delta[:, J], dim=0), alpha.expand(2), rtol=1e-12, atol=0)
    # directions come from the (seed, step) stream: reproducible
    _, u = inj.draw(3, 5, 7)
    torch.testing.assert_close(delta[:, J], alpha * torch.from_numpy(u / np.linalg.norm(u, axis=0)),
                               rtol=1e-12, atol=1e-14)


def test_additive_in_general_basis():
    V = AWBT(d=5, fix_V=False, seed=3, dtype=f64).V
    inj = OutlierInjection(K_out=1, s=1, mode="additive", rho=1.0, seed=0)
    X = _rand(4, 5, seed=1)
    before = X.clone()
    inj.apply(X, 1, V=V)
    (j,) = inj.events[0].columns
    dV = (X - before) @ V  # change, in feature coordinates, lives in column j only
    mask = torch.ones(5, dtype=torch.bool)
    mask[j] = False
    assert dV[:, mask].abs().max() < 1e-14
    assert torch.linalg.norm(dV[:, j]).item() == pytest.approx(torch.linalg.norm(before).item() / math.sqrt(20))


def test_momentum_hook_targets_one_param():
    inj = OutlierInjection(K_out=1, s=1, a=2.0, seed=0)
    target, other = torch.zeros(3, 3), torch.zeros(3, 3)
    hook = inj.momentum_hook(target=target)
    M1, M2 = torch.ones(3, 3), torch.ones(3, 3)
    hook(other, M2, 1)
    assert torch.equal(M2, torch.ones(3, 3)) and inj.events == []
    hook(target, M1, 1)
    assert M1.sum().item() == 12.0 and inj.events[0].step == 1
    with pytest.raises(ValueError, match="site"):
        OutlierInjection(site="gradient").momentum_hook()


def test_batched_equals_unbatched_slice_by_slice():
    seeds = [0, 1, 2]
    for mode in ("multiplicative", "additive"):
        batch = OutlierInjectionBatch(seeds, K_out=3, s=2, a=5.0, mode=mode)
        Vs = torch.stack([AWBT(d=6, fix_V=False, seed=s, dtype=f64).V for s in seeds])
        for V in (None, Vs):
            X = _rand(3, 4, 6, seed=9)
            Xb = X.clone()
            batch.apply(Xb, 6, V=V)
            for i, s in enumerate(seeds):
                single = OutlierInjection(K_out=3, s=2, a=5.0, mode=mode, seed=s)
                Xi = X[i].clone()
                single.apply(Xi, 6, V=None if V is None else V[i])
                torch.testing.assert_close(Xb[i], Xi, rtol=1e-13, atol=1e-14)
                assert single.events[0].columns == [e for e in batch.events if e.slice == i][-1].columns
    assert {e.slice for e in batch.events} == {0, 1, 2}
    assert batch.events[0] == InjectionEvent(6, batch.events[0].columns, 0)
    with pytest.raises(ValueError, match="shape"):
        batch.apply(torch.zeros(2, 4, 6), 6)


@pytest.mark.parametrize("kw, field", [({"K_out": 0}, "K_out"), ({"s": 0}, "s"), ({"a": 0.0}, "a"),
                                       ({"a": -1.0}, "a"), ({"site": "weights"}, "site"),
                                       ({"mode": "x"}, "mode"), ({"J_mode": "sorted"}, "J_mode"),
                                       ({"t_start": 0}, "t_start"), ({"rho": 0.0}, "rho")])
def test_bad_input(kw, field):
    with pytest.raises(ValueError, match=field):
        OutlierInjection(**kw)


def test_s_larger_than_columns_is_an_error():
    inj = OutlierInjection(K_out=1, s=5)
    with pytest.raises(ValueError, match="s must be <= the number of columns n = 4"):
        inj.apply(torch.zeros(3, 4), 1)
    inj.check_columns(5)
