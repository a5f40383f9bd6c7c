"""The run's observer (SPEC 4): :class:`RunObserver`, one instance of every enabled
diagnostic per seed, called by the run loop around ``optimizer.step()``.

A run of its own has one seed and its columns are the plugins' 0-d values. A seed
batch (:mod:`muonlab.runner.batched`) has one :class:`~.seed_view.SeedView` per slice:
each seed is observed on its own slice with its own loss and generators, exactly as its
run of its own would be, and every column becomes an ``(S,)`` tensor (a seed without a
value this row, e.g. diverged, reads NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from muonlab.diagnostics.hvp import LossFn

from .protocol import Artifacts, Diagnostic
from .seed_view import SeedView


class RunObserver:
    """Composite of the enabled diagnostics of ``spec`` (a
    :class:`~.settings.DiagnosticsSpec`) over the seeds ``views``.

    is_logged: whether a step gets a CSV row; batched: whether the run is a seed batch
    (columns get a seed axis).
    """

    def __init__(self, spec: Any, views: Sequence[SeedView], *, is_logged: Callable[[int], bool], batched: bool) -> None:
        plugins = spec.plugins()
        needy = [cls.name for cls, _ in plugins if cls.needs_loss_fn]
        if needy and any(view.loss_fn is None for view in views):
            raise ValueError(f"diagnostics: {' and '.join(needy)} need a task with a functional loss_fn; this problem has none")
        self.batched = batched
        self.seeds: list[list[Diagnostic]] = [[cls(s, view, is_logged=is_logged) for cls, s in plugins] for view in views]

    @classmethod
    def for_run(cls, spec: Any, task: Any, *, seed: int, is_logged: Callable[[int], bool]) -> RunObserver:
        """The observer of one run of ``task`` (a :class:`~muonlab.runner.task.Task`)."""
        view = SeedView(seed, task.optimizer, task.params, task.loss_fn)
        return cls(spec, [view], is_logged=is_logged, batched=False)

    @classmethod
    def for_batch(
        cls, spec: Any, task: Any, seeds: Sequence[int], loss_fns: Sequence[LossFn | None], *, is_logged: Callable[[int], bool]
    ) -> RunObserver:
        """The observer of a seed batch ``task`` whose ``(S, ...)`` parameters hold the
        seeds ``seeds``; ``loss_fns[i]`` is seed i's own functional loss (over one
        slice), so each seed's Hessian is its own block, not the summed objective's."""
        views = [SeedView(seed, task.optimizer, task.params, loss_fn, index=i)
                 for i, (seed, loss_fn) in enumerate(zip(seeds, loss_fns, strict=True))]
        return cls(spec, views, is_logged=is_logged, batched=True)

    def before_step(self, step: int) -> None:
        for plugins in self.seeds:
            for plugin in plugins:
                plugin.before_step(step)

    def after_step(self, step: int) -> dict[str, Tensor]:
        """Values for the logged row of ``step`` (0-d, or ``(S,)`` in a batch)."""
        rows = []
        for plugins in self.seeds:
            row: dict[str, Tensor] = {}
            for plugin in plugins:
                row.update(plugin.after_step(step))
            rows.append(row)
        if not self.batched:
            return rows[0]
        keys = list(dict.fromkeys(key for row in rows for key in row))
        device = self.seeds[0][0].view.batch_params[0].device
        nan = torch.tensor(math.nan, dtype=torch.float64, device=device)
        return {key: torch.stack([row[key].to(torch.float64) if key in row else nan for row in rows]) for key in keys}

    def finish(self, finished: Sequence[bool] | None = None) -> list[Artifacts]:
        """End-of-run artifacts of each seed (only those with ``finished[i]``, default all;
        a diverged seed has none)."""
        finished = [True] * len(self.seeds) if finished is None else finished
        out: list[Artifacts] = []
        for plugins, done in zip(self.seeds, finished, strict=True):
            artifacts: Artifacts = {}
            if done:
                for plugin in plugins:
                    artifacts.update(plugin.finish())
            out.append(artifacts)
        return out
