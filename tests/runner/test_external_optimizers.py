"""External optimizers in study files (issue 17): ``module:Class`` names, keyword
validation against the class signature, the hybrid split on request, statistics for an
optimizer without ``last_stats()``, and the errors around them (one line, exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from muonlab.cli import main
from muonlab.optim import HybridOptimizer
from muonlab.runner import ConfigError, make_backend, parse_study, run
from muonlab.runner.adapters import build_task

AWBT = """
seeds = 1
steps = 40
every = 4
[problem]
name = "awbt"
d = 6
kappa = 10.0
"""


def _study(optimizers: str, problem: str = AWBT) -> str:
    return problem + optimizers


def test_torch_optimizer_by_import_path_runs() -> None:
    study = parse_study(_study('[[optimizers]]\nname = "torch.optim:Adam"\nlr = 0.01\nbetas = [0.8, 0.9]\n'))
    (config,) = study.runs()
    assert dict(config.hparams) == {"lr": 0.01, "betas": (0.8, 0.9)}
    result = run(config)
    assert result.status == "done"
    loss = result.columns["loss"]
    assert loss[-1] < loss[0]
    assert np.all(np.isfinite(result.columns["update_rms"]))


def test_unknown_keyword_names_the_class_and_its_keywords(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text(_study('[[optimizers]]\nname = "torch.optim:Adam"\nmomentum = 0.9\n'))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "optimizers[0].momentum" in err and "class Adam" in err
    assert "lr, betas, eps, weight_decay, amsgrad" in err


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ('name = "torch.optim:Nope"', "has no attribute 'Nope'"),
        ('name = "no_such_module_xyz:Opt"', "cannot import module"),
        ('name = "torch:zeros"', "not a torch.optim.Optimizer subclass"),
        ('name = "torch.optim:Adam"\nlr = -1.0', "Invalid learning rate"),
        ('name = "sgd"\nhybrid = true', "only for external optimizers"),
        ('name = "torch.optim:SGD"\nhybrid = true', "single matrix parameter"),
    ],
)
def test_bad_external_entries_are_one_line_config_errors(entry: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_study(_study(f"[[optimizers]]\n{entry}\n"))
    assert info.value.args[0].startswith("optimizers[0].")
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_momentum_injection_suggests_the_gradient_site() -> None:
    text = _study('[injection]\nsite = "momentum"\ns = 1\n[[optimizers]]\nname = "torch.optim:SGD"\n')
    with pytest.raises(ConfigError, match='injection.site = "gradient"'):
        parse_study(text)
    study = parse_study(text.replace('site = "momentum"', 'site = "gradient"'))
    assert run(study.runs()[0]).status == "done"


def test_update_rms_from_parameter_deltas_matches_the_baselines_own() -> None:
    """torch.optim.SGD (no statistics) and muonlab's ``sgd`` (the same update, recording
    ``update_rms`` inside every step) give the same trajectory and the same statistics:
    the runner's delta at logged steps is measured independently of the optimizer's."""
    hp = "lr = 0.05\nmomentum = 0.9\n"
    study = parse_study(_study(f'[[optimizers]]\nname = "torch.optim:SGD"\n{hp}[[optimizers]]\nname = "sgd"\n{hp}'))
    external, builtin = (run(c) for c in study.runs())
    np.testing.assert_array_equal(external.columns["loss"], builtin.columns["loss"])
    # Both compute sqrt(sum (p_t - p_{t-1})^2 / n) in float32 from the same (bitwise equal)
    # deltas; only the reduction order may differ. Bound: each side's sum of n = d^2 = 36
    # squares is within n eps32 (gamma_n, plus the squares' rounding) of the exact sum, so
    # the sums differ by <= 2 (n + 1) eps32 relative; the square root halves that; the
    # root and the division by n round once each per side.
    n = 6 * 6
    for key in ("update_rms", "update_fro"):
        np.testing.assert_allclose(external.columns[key], builtin.columns[key], rtol=(n + 1 + 4) * 2.0**-24)


def test_hybrid_split_on_request() -> None:
    digits = "seeds = 1\nsteps = 3\n[problem]\nname = \"digits\"\nhidden = 8\n"
    plain, split = parse_study(
        _study('[[optimizers]]\nname = "torch.optim:SGD"\n[[optimizers]]\nname = "torch.optim:SGD"\nlabel = "h"\nhybrid = true\n', digits)
    ).runs()
    assert split.run_id != plain.run_id
    device = torch.device("cpu")
    plain_task = build_task(plain, device=device, dtype=torch.float32)
    split_task = build_task(split, device=device, dtype=torch.float32)
    assert isinstance(plain_task.optimizer, torch.optim.SGD)
    assert isinstance(split_task.optimizer, HybridOptimizer)
    matrix = [p for g in split_task.optimizer.matrix.param_groups for p in g["params"]]
    assert [tuple(p.shape) for p in matrix] == [(8, 8)]  # the hidden matrix only
    assert run(split).status == "done"


def test_dask_backend_without_the_extra_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` now fails
    monkeypatch.delitem(sys.modules, "muonlab.runner.backends.dask_backend", raising=False)
    with pytest.raises(ConfigError, match=r"muonlab\[dask\]"):
        make_backend("dask", workers=1)
