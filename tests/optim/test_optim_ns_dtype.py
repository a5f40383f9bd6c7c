"""``ns_dtype`` as a study option of every Newton-Schulz optimizer (issue 16)."""

import pytest

import torch

from muonlab.optim.registry import OPTIMIZERS, hyperparameters
from muonlab.runner import parse_study
from muonlab.runner.settings import ConfigError
from muonlab.runner.adapters import build_task

NS_OPTIMIZERS = [name for name in OPTIMIZERS if "ns_dtype" in hyperparameters(name)]
LR_NAME = {"da-muon": "eta_max", "sc-muon": "eta_max", "df-muon": "eta_max"}


def _study(optimizer: str, ns_dtype: str) -> str:
    return (f'steps = 2\n[problem]\nname = "awbt"\nd = 8\nfix_V = false\n[[optimizers]]\nname = "{optimizer}"\n'
            f'{LR_NAME.get(optimizer, "lr")} = 0.01\nns_dtype = "{ns_dtype}"\n')


def test_every_muon_family_optimizer_has_ns_dtype_defaulting_to_float32():
    assert {"muon", "normuon", "trasmuon", "amuse", "da-muon", "sc-muon", "df-muon"} <= set(NS_OPTIMIZERS)
    assert all(hyperparameters(name)["ns_dtype"] == torch.float32 for name in NS_OPTIMIZERS)


@pytest.mark.parametrize("optimizer", NS_OPTIMIZERS)
def test_study_file_sets_bfloat16_newton_schulz(optimizer):
    steps = {}
    for ns_dtype in ("float32", "bfloat16"):
        (config,) = parse_study(_study(optimizer, ns_dtype)).runs()
        task = build_task(config, device=torch.device("cpu"), dtype=torch.float32)
        start = [p.detach().clone() for p in task.params]
        task.optimizer.zero_grad(set_to_none=True)
        task.loss(1)[0].backward()
        task.optimizer.step()
        assert all(p.dtype == torch.float32 for p in task.params)  # only NS runs in bf16
        steps[ns_dtype] = torch.cat([(p.detach() - s).flatten() for p, s in zip(task.params, start)])
    # bf16 NS really ran: its update differs from the float32 one, by about bf16's
    # precision (2^-8 relative per entry, a few percent after NS5), not by a different rule.
    gap = (steps["bfloat16"] - steps["float32"]).norm() / steps["float32"].norm()
    assert 0 < float(gap) < 0.25


@pytest.mark.parametrize("optimizer", NS_OPTIMIZERS)
def test_study_file_rejects_other_ns_dtypes(optimizer):
    with pytest.raises(ConfigError, match="ns_dtype must be torch.float32 or torch.bfloat16"):
        parse_study(_study(optimizer, "float16")).runs()
