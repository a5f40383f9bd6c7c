"""The protocol of a ``[diagnostics]`` entry (SPEC 4): :class:`Diagnostic`.

A diagnostic is a class registered under its study-file key in
:data:`muonlab.runner.observers.registry.DIAGNOSTICS`. The class declares its settings
(:class:`~muonlab.runner.settings.Setting` objects: type, default, allowed values, help;
what validation and ``muonlab list`` read), and the instance, made for one seed of a run
(:class:`~muonlab.runner.observers.seed_view.SeedView`), observes it:

- ``before_step(step)``: just before ``optimizer.step()`` (after the gradient and any
  injection); snapshot what the step will consume;
- ``after_step(step) -> columns``: on each logged row after the step; 0-d tensors on
  the parameters' device, merged into the run's CSV row;
- ``finish() -> artifacts``: at the end of a run that did not diverge; each artifact is
  a table of columns written to ``runs/<run_id>.<name>.csv``.

Diagnostics observe only: they read detached copies and never write back, so a run
with and without them has identical bytes (tested). Between observation steps the hooks
only compare integers (no copies, no host sync).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field, make_dataclass
from typing import Any, ClassVar

import numpy as np
from torch import Tensor

from ..settings import ConfigError, Setting, type_name
from .seed_view import SeedView

Artifacts = dict[str, dict[str, np.ndarray]]


class Diagnostic:
    """Base of every diagnostic plugin (see the module docstring).

    Class attributes a plugin sets:
      name, description: its ``[diagnostics]`` key and the line ``muonlab list`` shows;
      settings: its keys; empty for an on/off entry (``true`` / ``false`` only);
      spec: the frozen settings record (:func:`settings_record` of ``settings``);
      needs_loss_fn: whether it differentiates the task's functional loss (a problem
        without one is refused when the run starts);
      batchable: whether it can observe each seed of a seed-batched cell (the math
        separates by seed); a cell with an enabled non-batchable one runs seed by seed;
      columns: the per-step CSV columns it writes that claims may aggregate
        (``steps.median.<column>``, muonlab.claims.schema);
      column_order: where its columns go in a row (lower first; ties in registry order).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    settings: ClassVar[tuple[Setting, ...]] = ()
    spec: ClassVar[type | None] = None
    needs_loss_fn: ClassVar[bool] = False
    batchable: ClassVar[bool] = True
    columns: ClassVar[tuple[str, ...]] = ()
    column_order: ClassVar[int] = 100

    def __init__(self, spec: Any, view: SeedView, *, is_logged: Callable[[int], bool]) -> None:
        self.options = spec
        self.view = view
        self.is_logged = is_logged

    @classmethod
    def check(cls, spec: Any, path: str, *, log_every: int) -> None:
        """Cross-key checks of a parsed ``spec`` (one :class:`ConfigError` naming
        ``path``); a setting ``every`` must be a multiple of the study's ``every`` so
        that every observation lands on a CSV row."""
        every = getattr(spec, "every", None)
        if every is not None and every % log_every != 0:
            raise ConfigError(
                f"{path}.every: must be a multiple of the study's every = {log_every} "
                f"(observations land on logged rows), got {every}"
            )

    def before_step(self, step: int) -> None:
        """Snapshot what step ``step`` will consume (default: nothing)."""

    def after_step(self, step: int) -> dict[str, Tensor]:
        """Columns of the logged row of ``step`` (default: none)."""
        return {}

    def finish(self) -> Artifacts:
        """End-of-run artifacts, name -> columns (default: none)."""
        return {}


def settings_record(name: str, settings: tuple[Setting, ...], module: str) -> type:
    """A frozen dataclass ``module.name`` with one field per setting, defaulting to the
    setting's default: the defaults are declared once, in the :class:`Setting` objects.
    Bind it to ``name`` in ``module`` (records travel to worker processes by pickle)."""
    fields = [(s.name, s.kind, field(default=s.default)) for s in settings]
    record = make_dataclass(name, fields, frozen=True)
    record.__module__ = module
    return record


class NameList(Setting):
    """A setting whose value is a non-empty array of distinct names from ``choices``,
    kept as a tuple (e.g. ``dom_bulk.vectors``)."""

    def __init__(self, name: str, choices: tuple[str, ...], default: tuple[str, ...], help: str = "") -> None:
        super().__init__(name, list, default, f"non-empty array of distinct names from {', '.join(choices)}", help=help)
        object.__setattr__(self, "choices", choices)

    def coerce(self, value: Any, path: str) -> tuple[str, ...]:
        allowed = ", ".join(self.choices)
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{path}: expected a non-empty array of names from {allowed}, got {type_name(value)} {value!r}")
        for i, name in enumerate(value):
            if not isinstance(name, str) or name not in self.choices:
                raise ConfigError(f"{path}[{i}]: must be one of {allowed}, got {name!r}")
        if len(set(value)) != len(value):
            raise ConfigError(f"{path}: names must be distinct, got {value!r}")
        return tuple(value)
