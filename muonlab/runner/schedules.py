"""Learning-rate schedules for every problem (SPEC 12), through ``torch.optim.lr_scheduler``.

A study's ``[schedule]`` table (``name``, ``warmup``, ``decay``; a list is a grid axis)
becomes one :class:`~torch.optim.lr_scheduler.LambdaLR` per underlying optimizer (a
hybrid optimizer wraps two: ``LambdaLR`` only accepts a ``torch.optim.Optimizer``, so the
matrix and the AdamW side each get their own scheduler with the same factor, and every
param group of both is scaled). Step ``t`` (1-based) trains with ``lr = base_lr * f(t)``;
the scheduler is stepped after each ``optimizer.step()``. With ``T`` steps, ``W`` warmup
steps and ``D`` decay steps:

- ``constant``: ``f = 1`` (no scheduler is built at all: existing studies are unchanged).
- ``warmup``: linear warmup ``f = t / W`` for ``t <= W``, then 1.
- ``wsd`` (warmup-stable-decay, TrasMuon App. D): the warmup, a stable phase at 1, and a
  linear decay over the last ``D`` steps, ``f = (T - t + 1) / D`` (default ``W = 10%``,
  ``D = 20%`` of T, as in App. D).
- ``cosine``: the warmup, then ``f = (1 + cos(pi (t - W - 1) / (T - W))) / 2``, the
  values of ``CosineAnnealingLR(T_max = T - W, eta_min = 0)`` at its steps 0..T-W-1.

``warmup = 0`` is the warmup-free setting (T App. D variant ii). ``warmup`` is a step
count (an integer) or a fraction of ``T`` in ``[0, 1)`` (a float, rounded to steps).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from .settings import ConfigError, Setting, choice, type_name

SCHEDULES = ("constant", "warmup", "wsd", "cosine")
DEFAULT_WARMUP = {"constant": 0.0, "warmup": 0.1, "wsd": 0.1, "cosine": 0.0}
WSD_DECAY = 0.2


Items = tuple[tuple[str, Any], ...]
SCHEDULE_KEYS = ("name", "warmup", "decay")


def _warmup_value(value: Any, path: str) -> int | float:
    """An integer step count >= 0 or a float fraction in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{path}: expected an integer step count >= 0 or a float fraction in [0, 1), got {type_name(value)} {value!r}")
    if value < 0 or (isinstance(value, float) and value >= 1):
        raise ConfigError(f"{path}: must be an integer step count >= 0 or a float fraction in [0, 1), got {value!r}")
    return value


def _decay_value(value: Any, path: str) -> float:
    return Setting("decay", float, WSD_DECAY, "in (0, 1]", lambda v: 0 < v <= 1).coerce(value, path)


def _name_value(value: Any, path: str) -> str:
    return choice("name", SCHEDULES, "constant").coerce(value, path)


def parse_schedule(value: Any, steps: int) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The grid of a study's ``[schedule]`` table (``()`` when absent: constant). Each key
    takes a value or a list of distinct values (a grid axis). ``decay`` only for ``wsd``;
    a warmup of ``steps`` or more steps is refused."""
    if not isinstance(value, dict):
        raise ConfigError(f"schedule: expected a table, got {type_name(value)} {value!r}")
    for key in value:
        if key not in SCHEDULE_KEYS:
            raise ConfigError(f"schedule.{key}: unknown key; allowed: {', '.join(SCHEDULE_KEYS)}")
    if not value:
        return ()
    parsers = {"name": _name_value, "warmup": _warmup_value, "decay": _decay_value}
    grid = []
    for key in SCHEDULE_KEYS:
        if key not in value:
            continue
        raw = value[key] if isinstance(value[key], list) else [value[key]]
        if not raw:
            raise ConfigError(f"schedule.{key}: empty list; give at least one value")
        values = tuple(parsers[key](v, f"schedule.{key}" + (f"[{i}]" if isinstance(value[key], list) else ""))
                       for i, v in enumerate(raw))
        if len(set(map(repr, values))) != len(values):
            raise ConfigError(f"schedule.{key}: values must be distinct, got {value[key]!r}")
        grid.append((key, values))
    names = dict(grid).get("name", ("constant",))
    if "decay" in value and names != ("wsd",):
        raise ConfigError("schedule.decay: only for name = \"wsd\"")
    for w in dict(grid).get("warmup", ()):
        if isinstance(w, int) and w >= steps:
            raise ConfigError(f"schedule.warmup: must be < steps = {steps}, got {w}")
    if "name" not in value:
        grid.insert(0, ("name", ("constant",)))
    return tuple(grid)


def steps_of(value: int | float, total: int) -> int:
    """A step count, or a fraction of ``total`` rounded to the nearest step."""
    return value if isinstance(value, int) else round(value * total)


def lr_factor(schedule: Mapping[str, Any], total: int) -> Callable[[int], float]:
    """``f(t)`` of the module docstring for a 1-based step ``t``."""
    name = schedule["name"]
    warmup = steps_of(DEFAULT_WARMUP[name] if schedule.get("warmup") is None else schedule["warmup"], total)
    decay = max(1, steps_of(schedule.get("decay", WSD_DECAY), total))

    def factor(t: int) -> float:
        if t <= warmup:
            return t / warmup
        if name == "wsd" and t > total - decay:
            return (total - t + 1) / decay
        if name == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * (t - warmup - 1) / (total - warmup)))
        return 1.0

    return factor


def is_constant(schedule: Mapping[str, Any]) -> bool:
    return not schedule or (schedule["name"] == "constant" and not schedule.get("warmup"))


class Schedule:
    """One ``LambdaLR`` per optimizer inside ``optimizer`` (itself, or a hybrid's parts);
    :meth:`step` advances all of them."""

    def __init__(self, optimizer: Any, schedule: Mapping[str, Any], total: int) -> None:
        f = lr_factor(schedule, total)
        parts = getattr(optimizer, "optimizers", None)
        optimizers: list[torch.optim.Optimizer] = list(parts.values()) if parts is not None else [optimizer]
        # LambdaLR's epoch k counts completed steps, so step t = k + 1 gets f(k + 1).
        self.schedulers = [LambdaLR(opt, lambda k: f(k + 1)) for opt in optimizers]

    def step(self) -> None:
        for scheduler in self.schedulers:
            scheduler.step()


def build_schedule(optimizer: Any, schedule: Mapping[str, Any], total: int) -> Schedule | None:
    """The schedule of a run, or None for the constant one (no scheduler, identical
    trajectory to a run without ``[schedule]``)."""
    return None if is_constant(schedule) else Schedule(optimizer, schedule, total)
