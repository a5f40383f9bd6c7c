"""Bad input: one-line ValueErrors naming the field and the allowed values."""

import re

import pytest
import torch

from muonlab.optim import OPTIMIZERS, build, hyperparameters


def _param(*shape):
    return [torch.nn.Parameter(torch.zeros(*shape))]


def _raises(match, name, params=None, **hp):
    with pytest.raises(ValueError, match=match) as info:
        build(name, params if params is not None else _param(4, 3), **hp)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_unknown_name_lists_valid_names():
    msg = _raises("unknown optimizer 'adam'", "adam")
    for name in ("muon", "trasmuon-noclip", "sf-adamw", "df-muon"):
        assert name in msg


def test_unknown_and_preset_keywords():
    msg = _raises("unknown hyperparameter 'momentum'", "trasmuon", momentum=0.9)
    assert "beta1" in msg
    _raises("fixed to False by the variant", "trasmuon-noclip", clip=True)
    _raises("fixed to 0.0 by the variant", "sf-muon", rho=0.3)


@pytest.mark.parametrize(
    "name,field,value,allowed",
    [
        ("muon", "lr", 0.0, r"\(0, inf\)"),
        ("muon", "lr", -1.0, r"\(0, inf\)"),
        ("muon", "momentum", 1.0, r"\[0, 1\)"),
        ("muon", "ns_steps", 0, ">= 1"),
        ("muon", "weight_decay", -0.1, r"\[0, inf\)"),
        ("muon", "adjust_lr", "none", "one of"),
        ("muon", "ns_dtype", torch.float16, "bfloat16"),
        ("normuon", "beta2", -0.1, r"\[0, 1\)"),
        ("normuon", "eps", 0.0, r"\(0, inf\)"),
        ("trasmuon", "c_min", 0.0, r"\(0, 1\]"),
        ("trasmuon", "c_min", 1.5, r"\(0, 1\]"),
        ("trasmuon", "K", 0, ">= 1"),
        ("trasmuon", "T_w", -1, ">= 0"),
        ("trasmuon", "rho", 1.5, r"\[0, 1\]"),
        ("trasmuon", "beta_E", 1.0, r"\[0, 1\)"),
        ("trasmuon", "k", -1.0, r"\[0, inf\)"),
        ("trasmuon", "eps", -1e-8, r"\(0, inf\)"),
        ("amuse", "T0", 0, ">= 1"),
        ("amuse", "rho", -0.1, r"\[0, 1\]"),
        ("rmnp", "nesterov", "yes", "True or False"),
        ("da-muon", "eta_max", 0.0, r"\(0, inf\)"),
        ("df-muon", "rho", 0.5, r"\[1, inf\)"),
        ("df-muon", "M", 0, ">= 1"),
        ("adamw", "betas", (0.9, 1.0), r"\[0, 1\)"),
        ("sgd", "momentum", 1.2, r"\[0, 1\)"),
        ("sf-adamw", "warmup_steps", -1, ">= 0"),
    ],
)
def test_out_of_range_values(name, field, value, allowed):
    msg = _raises(field, name, **{field: value})
    assert f"optimizer '{OPTIMIZERS[name].name}'" in msg
    assert re.search(allowed, msg), msg


@pytest.mark.parametrize("name", ["muon", "normuon", "trasmuon", "rmnp", "da-muon", "sc-muon", "df-muon"])
def test_non_matrix_parameter_is_named(name):
    params = [torch.nn.Parameter(torch.zeros(4, 3)), torch.nn.Parameter(torch.zeros(3))]
    msg = _raises("parameter 1 has shape \\(3,\\)", name, params)
    assert "hybrid" in msg


def test_batched_needs_three_dimensional_parameters():
    _raises(r"parameter 0 has shape \(4, 3\), expected \(S, m, n\)", "muon", _param(4, 3), batched=True)


def test_batched_rules():
    _raises("'batched'", "da-muon", _param(2, 4, 3), batched=True)
    assert "batched" not in hyperparameters("da-muon")
    # AMUSE's Adam-style fallback is for lower-rank tensors, not a forgotten batched=True.
    _raises("expected 2-D", "amuse", _param(2, 4, 3))


def test_variant_errors_name_the_variant():
    _raises("optimizer 'trasmuon-noclip': c_min", "trasmuon-noclip", _param(4, 3), c_min=0.0)
    _raises("optimizer 'sf-muon': lr", "sf-muon", _param(4, 3), lr=-1.0)
    params = [torch.nn.Parameter(torch.zeros(2, 4, 3)), torch.nn.Parameter(torch.zeros(3, 4, 3))]
    _raises("batch size S=2", "muon", params, batched=True)


def test_hyperparameters_lists_every_keyword_with_defaults():
    hp = hyperparameters("trasmuon")
    assert hp["c_min"] == 0.1 and hp["k"] == 1.0 and hp["T_w"] == 10 and hp["rho"] == 0.5
    assert {"batched", "momentum_hook", "ref_bias_correction", "beta_E", "beta_c", "K", "alpha"} <= set(hp)
    assert "clip" not in hyperparameters("trasmuon-noclip")
    assert hyperparameters("muon") == {
        "lr": 0.02, "momentum": 0.95, "nesterov": True, "weight_decay": 0.0, "ns_steps": 5,
        "ns_dtype": torch.float32, "adjust_lr": "original", "batched": False, "momentum_hook": None,
    }
    assert hyperparameters("sgd") == {"lr": 1e-2, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
    assert hyperparameters("adamw")["betas"] == (0.9, 0.999) and hyperparameters("adamw")["lr"] == 1e-3
    assert hyperparameters("amuse")["T0"] == 100 and hyperparameters("df-muon")["M"] == 8
    with pytest.raises(ValueError, match="unknown optimizer"):
        hyperparameters("nope")
