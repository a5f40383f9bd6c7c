"""``want_stats``: statistics off for some steps leaves the trajectory alone, the
statistics of the steps with them on unchanged, and ``last_stats()`` empty after a step
without them (the run loop turns them off for the steps it does not log)."""

import pytest
import schedulefree
import torch

from muonlab.optim import OPTIMIZERS, build, hybrid

from .reference import gradient_sequence

WANTED = [True, False, False, True, False, True, True, False, True]  # per step


def _hp(name: str) -> dict:
    return {"T_w": 2} if name.startswith("trasmuon") else ({"T0": 3} if name in ("amuse", "sf-muon") else {})


def _trajectory(name: str, wanted: list[bool] | None) -> tuple[list[torch.Tensor], list[dict]]:
    p = torch.nn.Parameter(torch.randn(7, 5, generator=torch.Generator().manual_seed(3)))
    opt = build(name, [p], **_hp(name))
    params, stats = [], []
    for t, G in enumerate(gradient_sequence((7, 5), len(WANTED), seed=4)):
        if wanted is not None:
            opt.want_stats(wanted[t])
        p.grad = G
        opt.step()
        params.append(p.detach().clone())
        stats.append(opt.last_stats_tensors())
    return params, stats


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_stats_off_changes_nothing_else(name):
    params_on, stats_on = _trajectory(name, None)
    params, stats = _trajectory(name, WANTED)
    for t, wanted in enumerate(WANTED):
        assert torch.equal(params[t], params_on[t])  # same arithmetic, bit for bit
        if not wanted:
            assert stats[t] == {}
            continue
        assert stats[t].keys() == stats_on[t].keys() and stats[t]
        for key, value in stats[t].items():
            assert torch.equal(value, stats_on[t][key]), key


def test_sf_adamw_stats_after_an_unrecorded_step_are_the_parameter_change():
    """The parameter copy skipped at unrecorded steps must not leave a stale buffer: the
    next recorded step reports the change of that step (reference: the difference of
    the parameters taken by the test; same float32 subtraction, so equal bit for bit)."""
    p = torch.nn.Parameter(torch.randn(6, 4, generator=torch.Generator().manual_seed(0)))
    opt = build("sf-adamw", [p], lr=1e-2)
    for t, G in enumerate(gradient_sequence((6, 4), 6, seed=1)):
        opt.want_stats(t % 3 == 2)
        before = p.detach().clone()
        p.grad = G
        opt.step()
        if t % 3 == 2:
            change = p.detach() - before
            assert torch.equal(opt.last_stats_tensors()["update_fro"], change.square().sum().sqrt())


def test_hybrid_passes_want_stats_to_both_parts():
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Linear(5, 5), torch.nn.Linear(5, 3))
    opt = hybrid(model, matrix="muon", other="adamw")
    assert opt.matrix is not None and opt.other is not None
    model(torch.ones(2, 4)).sum().backward()
    opt.want_stats(False)
    opt.step()
    assert opt.last_stats_tensors() == {}
    opt.want_stats(True)
    opt.step()
    assert {"update_fro", "update_rms", "matrix_update_rms", "other_update_rms"} <= opt.last_stats_tensors().keys()


@pytest.mark.parametrize("name, parent", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW),
                                          ("sf-adamw", schedulefree.AdamWScheduleFree)])
def test_baseline_step_hooks_run_once(name, parent):
    """The baselines' step wraps the parent's; torch.optim wraps both classes' steps with
    its hook runner once each class has an instance, so the parent's must run unwrapped."""
    parent([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)  # hooks the parent class's step
    p = torch.nn.Parameter(torch.ones(3))
    opt = build(name, [p])
    calls = []
    opt.register_step_post_hook(lambda *_: calls.append(1))
    p.grad = torch.ones(3)
    opt.step()
    assert calls == [1]
