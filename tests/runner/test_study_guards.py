"""What a study is refused for before it runs (non-finite numbers, a step log larger
than the machine's memory, a different study on --resume), overflow recorded as
divergence, and the CPU recorded in manifest.json."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from muonlab.runner import ConfigError, parse_study, run, run_study
from muonlab.runner.memory import BYTES_PER_STEP, check_memory, run_bytes

BASE = 'seeds = 1\nsteps = 12\n[problem]\nname = "awbt"\nd = 4\n{problem}\n[[optimizers]]\nname = "{name}"\n{hparams}\n'


def study(problem: str = "", name: str = "muon", hparams: str = "", steps: int = 12):
    return parse_study(BASE.format(problem=problem, name=name, hparams=hparams).replace("steps = 12", f"steps = {steps}"))


@pytest.mark.parametrize(
    ("problem", "name", "hparams", "key"),
    [
        ("kappa = inf", "muon", "", "problem.kappa"),
        ("kappa = nan", "muon", "", "problem.kappa"),
        ("", "adamw", "weight_decay = inf", "optimizers[0].weight_decay"),  # torch's own check lets inf pass
        ("", "adamw", "betas = [0.9, nan]", "optimizers[0].betas"),
        ("", "trasmuon", "lr = [0.01, -inf]", "optimizers[0].lr"),
        ("[injection]\na = inf", "muon", "", "injection.a"),
        ("[spikes]\ndelta = inf", "muon", "", "spikes.delta"),
    ],
)
def test_non_finite_numbers_are_rejected_naming_the_key(problem: str, name: str, hparams: str, key: str) -> None:
    if problem.startswith("["):  # a table after [problem]
        text = BASE.format(problem="", name=name, hparams=hparams).replace("[[optimizers]]", f"{problem}\n[[optimizers]]")
    else:
        text = BASE.format(problem=problem, name=name, hparams=hparams)
    with pytest.raises(ConfigError) as info:
        parse_study(text)
    message = str(info.value)
    assert message.startswith(f"{key}: ") and "finite" in message and "\n" not in message


def test_a_step_log_beyond_memory_is_refused_naming_steps() -> None:
    with pytest.raises(ConfigError, match=r"^steps: one run needs about .* GiB of memory .* lower steps or raise every$"):
        study(steps=10**12)
    tiny = study(steps=100).size()
    need, key = run_bytes(tiny)
    assert key == "steps" and need >= 100 * BYTES_PER_STEP
    check_memory(tiny, available=need)  # fits exactly
    with pytest.raises(ConfigError, match=r"^steps: "):
        check_memory(tiny, available=need - 1)


def test_a_large_awbt_dimension_is_refused_naming_problem_d() -> None:
    size = study().size()
    assert size.awbt_d == 4
    with pytest.raises(ConfigError, match=r"^problem\.d: .* lower problem\.d$"):
        check_memory(replace(size, awbt_d=100_000), available=10 * 2**30)  # 10 x 1e10 x 8 B = 745 GiB
    check_memory(size, available=run_bytes(size)[0])


def test_an_overflowing_statistic_is_divergence_not_failure(tmp_path: Path) -> None:
    """TrasMuon at lr = 1e30 adds lr**2 = 1e60 (more than float32 holds) to its clip
    statistics: torch refuses the scalar. That is the run diverging at step 1."""
    config = study(name="trasmuon", hparams="lr = 1e30").runs()[0]
    result = run(config)
    assert (result.status, result.diverged_step, result.steps_done, result.error) == ("diverged", 1, 0, None)
    out = tmp_path / "out"
    run_study(study(name="trasmuon", hparams="lr = 1e30"), out, progress=False)
    row = (out / "summary.csv").read_text().splitlines()[1].split(",")
    header = (out / "summary.csv").read_text().splitlines()[0].split(",")
    cells = dict(zip(header, row))
    assert cells["status"] == "diverged" and cells["final_loss"] == "nan"


def test_resume_with_a_different_study_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = study(hparams="lr = [0.01, 0.02]")
    run_study(first, out, progress=False)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    changed = study(hparams="lr = [0.01, 0.03]")
    with pytest.raises(ConfigError, match=r"^--resume: .* holds a different study \(1 of its 2 runs are not in the directory's study"):
        run_study(changed, out, resume=True, progress=False)
    relabelled = parse_study(BASE.format(problem="", name="muon", hparams='label = "M"\nlr = [0.01, 0.02]'))
    with pytest.raises(ConfigError, match=r"other labels"):
        run_study(relabelled, out, resume=True, progress=False)
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    # the same study (another device spelling) resumes, runs nothing and leaves no orphan
    report = run_study(parse_study(first.source, device="cpu"), out, resume=True, progress=False)
    assert report.skipped == 2
    listed = {line.split(",")[0] for line in (out / "summary.csv").read_text().splitlines()[1:]}
    assert {p.name.removesuffix(".csv") for p in (out / "runs").iterdir()} == listed


def test_manifest_records_the_cpu_and_threads(tmp_path: Path) -> None:
    run_study(study(), tmp_path / "out", progress=False)
    cpu = json.loads((tmp_path / "out" / "manifest.json").read_text())["cpu"]
    assert cpu["torch_capability"] == torch.backends.cpu.get_cpu_capability()
    assert cpu["run_threads"] == 1  # the local backend's threads per run
    assert cpu["model"] and isinstance(cpu["flags"], list)
    assert cpu["logical_cpus"] >= 1
