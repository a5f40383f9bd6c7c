"""Learning-rate schedules (SPEC 12) through torch.optim.lr_scheduler."""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim.lr_scheduler import CosineAnnealingLR

from muonlab import optim
from muonlab.runner.config import parse_study
from muonlab.runner.schedules import Schedule, lr_factor
from muonlab.runner.settings import ConfigError
from muonlab.runner.steplog import StepLog
from muonlab.runner.run import train_steps
from muonlab.runner.adapters import build_task

DIGITS = """
seeds = 1
steps = 30
every = 10
[problem]
name = "digits"
hidden = 16
{schedule}
[[optimizers]]
name = "trasmuon"
lr = 0.01
"""


def _lrs(schedule: dict, total: int, optimizer_name: str = "adamw") -> list[float]:
    """The lr each of steps 1..total trains with, read from a real optimizer's group."""
    p = torch.nn.Parameter(torch.zeros(2, 2))
    opt = optim.build(optimizer_name, [p], lr=0.5)
    sched = Schedule(opt, schedule, total)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_cosine_matches_torch_cosine_annealing_after_the_warmup() -> None:
    total, warmup = 40, 8
    p = torch.nn.Parameter(torch.zeros(2))
    reference = torch.optim.SGD([p], lr=0.5)
    cosine = CosineAnnealingLR(reference, T_max=total - warmup)
    expected = []
    for _ in range(total - warmup):
        expected.append(reference.param_groups[0]["lr"])
        reference.step()
        cosine.step()
    got = _lrs({"name": "cosine", "warmup": warmup}, total)
    assert got[:warmup] == pytest.approx([0.5 * t / warmup for t in range(1, warmup + 1)], rel=1e-15)
    # CosineAnnealingLR's recursive form drifts by rounding only: 1e-12 relative.
    assert got[warmup:] == pytest.approx(expected, rel=1e-12)


def test_wsd_has_ten_percent_warmup_and_twenty_percent_linear_decay() -> None:
    lrs = _lrs({"name": "wsd"}, 100)
    assert lrs[9] == 0.5 and lrs[8] < 0.5  # warmup reaches the peak at step 10
    assert all(v == 0.5 for v in lrs[9:80])  # stable until step 80
    decay = lrs[80:]
    assert all(b < a for a, b in zip(decay, decay[1:])) and decay[-1] == pytest.approx(0.5 / 20)
    free = _lrs({"name": "wsd", "warmup": 0}, 100)
    assert free[0] == 0.5 and free[80:] == decay  # warmup-free: same decay, no ramp


def test_hybrid_gets_the_schedule_on_every_group_of_both_parts() -> None:
    study = parse_study(DIGITS.format(schedule='[schedule]\nname = "warmup"\nwarmup = 10'))
    task = build_task(study.runs()[0], device=torch.device("cpu"), dtype=torch.float32)
    groups = task.optimizer.param_groups
    assert len(groups) >= 2  # matrix and AdamW sides
    base = [g["lr"] for g in groups]
    schedule = Schedule(task.optimizer, {"name": "warmup", "warmup": 10}, 30)
    assert [g["lr"] for g in groups] == pytest.approx([b / 10 for b in base])
    task.optimizer.step()  # no gradients: nothing moves, but the step is counted
    schedule.step()
    assert [g["lr"] for g in groups] == pytest.approx([2 * b / 10 for b in base])


def _trained(schedule: Schedule | None | str) -> list[torch.Tensor]:
    study = parse_study(DIGITS.format(schedule=""))
    task = build_task(study.runs()[0], device=torch.device("cpu"), dtype=torch.float32)
    if schedule == "constant":
        schedule = Schedule(task.optimizer, {"name": "constant"}, 30)
    train_steps(task, StepLog(30, 10, torch.device("cpu")), 30, schedule=schedule)
    return [p.detach().clone() for p in task.params]


def test_a_constant_schedule_leaves_the_trajectory_identical() -> None:
    # A LambdaLR with factor 1 writes base_lr * 1.0 = base_lr: bit-identical updates.
    assert all(torch.equal(a, b) for a, b in zip(_trained(None), _trained("constant")))
    plain = parse_study(DIGITS.format(schedule="")).runs()[0]
    explicit = parse_study(DIGITS.format(schedule='[schedule]\nname = "constant"')).runs()[0]
    assert plain.run_id == explicit.run_id and "schedule" not in plain.identity()
    warm = parse_study(DIGITS.format(schedule='[schedule]\nname = "warmup"')).runs()[0]
    assert warm.run_id != plain.run_id


def test_schedule_grid_expands_and_is_a_summary_column() -> None:
    study = parse_study(DIGITS.format(schedule='[schedule]\nname = "wsd"\nwarmup = [0, 0.1]'))
    runs = study.runs()
    assert [dict(r.schedule)["warmup"] for r in runs] == [0, 0.1]
    assert study.swept_schedule() == ("warmup",)


@pytest.mark.parametrize("table, message", [
    ('name = "linear"', "schedule.name: must be one of constant, warmup, wsd, cosine"),
    ("warmup = 1.5", "schedule.warmup: must be an integer step count >= 0 or a float fraction in [0, 1)"),
    ("warmup = 30", "schedule.warmup: must be < steps = 30"),
    ('name = "cosine"\ndecay = 0.1', "schedule.decay: only for name"),
    ("peak = 1", "schedule.peak: unknown key"),
])
def test_bad_schedules_are_refused_with_the_key(table: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_study(DIGITS.format(schedule="[schedule]\n" + table))


def test_warmup_factor_is_linear_and_warmup_zero_is_flat() -> None:
    f = lr_factor({"name": "warmup", "warmup": 4}, 10)
    assert [f(t) for t in range(1, 7)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    g = lr_factor({"name": "warmup", "warmup": 0}, 10)
    assert all(g(t) == 1.0 for t in range(1, 11))
    assert math.isclose(lr_factor({"name": "cosine", "warmup": 0}, 10)(1), 1.0)
