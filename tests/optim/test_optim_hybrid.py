"""hybrid: the standard split on a PINN-shaped MLP and the one-object interface."""

import copy

import torch
from torch import nn

from muonlab.optim import HybridOptimizer, hybrid


def pinn_mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))


def _loss(model: nn.Module) -> torch.Tensor:
    x = torch.linspace(0, 1, 32).reshape(16, 2)
    return model(x).square().mean()


def test_pinn_split_sends_exactly_the_hidden_weights_to_the_matrix_optimizer():
    model = pinn_mlp()
    opt = hybrid(model, matrix="trasmuon")
    assert isinstance(opt, HybridOptimizer)
    matrix_params = [p for g in opt.matrix.param_groups for p in g["params"]]
    assert [p is model[2].weight or p is model[4].weight for p in matrix_params] == [True, True]
    other_ids = {id(p) for g in opt.other.param_groups for p in g["params"]}
    assert other_ids == {id(p) for n, p in model.named_parameters() if n not in ("2.weight", "4.weight")}


def test_names_with_embed_head_norm_stay_out():
    named = [
        ("embed.weight", nn.Parameter(torch.zeros(8, 4))),
        ("block.fc.weight", nn.Parameter(torch.zeros(4, 4))),
        ("block.norm.weight", nn.Parameter(torch.zeros(4, 4))),
        ("block.fc2.weight", nn.Parameter(torch.zeros(4, 4))),
        ("lm_head.weight", nn.Parameter(torch.zeros(4, 8))),
    ]
    opt = hybrid(named)
    assert [p for g in opt.matrix.param_groups for p in g["params"]] == [named[1][1], named[3][1]]
    custom = hybrid(named, is_matrix=lambda name, p: name.startswith("embed"))
    assert [p for g in custom.matrix.param_groups for p in g["params"]] == [named[0][1]]


def test_step_stats_hook_and_state_dict_round_trip():
    model = pinn_mlp(1)
    calls = []
    opt = hybrid(model, matrix="muon", matrix_hparams={"lr": 0.01}, other_hparams={"lr": 1e-3},
                 momentum_hook=lambda p, M, t: calls.append(tuple(M.shape)))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for _ in range(3):
        opt.zero_grad()
        _loss(model).backward()
        opt.step()
    assert calls[:2] == [(64, 64), (64, 64)] and len(calls) == 6
    assert all(not torch.equal(p, before[n]) for n, p in model.named_parameters() if n.endswith("weight"))
    stats = opt.last_stats()
    assert {"update_rms", "update_fro", "matrix_update_rms", "other_update_rms"} <= set(stats)
    sq = stats["update_fro"] ** 2
    assert abs(sq - (opt.matrix.last_stats()["update_fro"] ** 2 + opt.other.last_stats()["update_fro"] ** 2)) < 1e-6 * max(sq, 1e-12)

    saved = copy.deepcopy(opt.state_dict())
    clone = copy.deepcopy(model)
    for _ in range(2):
        opt.zero_grad()
        _loss(model).backward()
        opt.step()
    opt2 = hybrid(clone, matrix="muon", matrix_hparams={"lr": 0.01}, other_hparams={"lr": 1e-3})
    opt2.load_state_dict(saved)
    for _ in range(2):
        opt2.zero_grad()
        _loss(clone).backward()
        opt2.step()
    for (n, p), (_, q) in zip(model.named_parameters(), clone.named_parameters()):
        assert torch.equal(p, q), n


def test_closure_runs_once_and_train_eval_reach_sf_optimizers():
    model = pinn_mlp(2)
    opt = hybrid(model, matrix="amuse", other="sf-adamw")
    count = []

    def closure():
        count.append(1)
        opt.zero_grad()
        loss = _loss(model)
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert len(count) == 3
    y = [p.detach().clone() for p in model.parameters()]
    opt.eval()
    assert all(not torch.equal(p, q) for p, q in zip(model.parameters(), y))
    opt.train()
    assert torch.equal(model[2].weight, y[2])
