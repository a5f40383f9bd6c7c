"""Run observers: the study's ``[diagnostics]`` recorded along a run (SPEC 4).

The run loop calls :meth:`RunObserver.before_step` just before ``optimizer.step()`` and
:meth:`RunObserver.after_step` on each logged row after it. Between observation steps
both only compare integers (no copies, no host sync); observation steps may sync.

Observers never change the trajectory: parameters, gradients and optimizer state are
read through detached copies, Hessians are built on clones of the parameters from the
task's fixed functional loss (``Task.loss_fn``), Lanczos and SLQ draw from local
generators seeded by the run seed, and nothing is written back.

Vectors of the dominant/bulk ratios (flat, in the order of ``Task.params``):
``update`` is the parameter change of the step ``theta_t - theta_{t-1}``; ``gradient``
the ``.grad`` the optimizer steps with (after any gradient-site injection); ``momentum``
the optimizer's first-moment buffer after the step, read from its state under
:data:`MOMENTUM_KEYS`:

- ``momentum_buffer``: sgd (torch.optim.SGD, when momentum > 0), muon, normuon,
  trasmuon and its variants, rmnp, da-muon, sc-muon, df-muon, and the matrices of
  amuse / sf-muon;
- ``exp_avg``: adamw (and the AdamW side of a hybrid optimizer);
- none: sf-adamw (schedule-free keeps ``z`` and ``exp_avg_sq``, no first moment) and
  the 1-D parameters of amuse / sf-muon. A parameter without a buffer makes the
  momentum ratios NaN (and its Gram statistics are left out; all NaN when none has one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from muonlab.diagnostics import (
    DomBulkTracker,
    SpectralDensity,
    effective_step_size,
    gram_diagonal_dominance,
    hessian_operator,
    mean_gram_diagonal_dominance,
    slq_density,
)

from .diagnostics_settings import DiagnosticsSpec
from .task import Task

MOMENTUM_KEYS = ("momentum_buffer", "exp_avg")
GRAM_STATS = ("r_avg", "r_min", "r_max")


def momentum_of(optimizer: Any, p: Tensor) -> Tensor | None:
    """The first-moment buffer of ``p`` in ``optimizer``'s state (see the module
    docstring), looking inside a hybrid optimizer's parts; None when it has none."""
    parts = getattr(optimizer, "optimizers", {"": optimizer})
    for part in parts.values():
        # .get: the state is a defaultdict, indexing would add an entry for p.
        state = part.state.get(p)
        if state:
            for key in MOMENTUM_KEYS:
                if key in state:
                    return state[key]
    return None


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def dom_bulk_columns(ratios: dict[str, float]) -> dict[str, float]:
    """Tracker keys to CSV columns: the update's ratios are ``r_dom`` / ``r_bulk``, the
    others keep their suffix (``r_dom_gradient``, ``r_bulk_momentum``)."""
    return {key.removesuffix("_update"): value for key, value in ratios.items()}


class RunObserver:
    """Records the diagnostics of ``spec`` for one run of ``task``.

    is_logged: whether a step gets a CSV row (``step_size`` is recorded on every row).
    seed: the run seed; Lanczos start vectors and SLQ probes are derived from it.
    """

    def __init__(self, spec: DiagnosticsSpec, task: Task, *, seed: int, is_logged: Callable[[int], bool]) -> None:
        needs_hessian = spec.dom_bulk is not None or spec.spectrum is not None
        if needs_hessian and task.loss_fn is None:
            raise ValueError("diagnostics: dom_bulk and spectrum need a task with a functional loss_fn; this problem has none")
        self.spec = spec
        self.task = task
        self.seed = seed
        self.is_logged = is_logged
        db = spec.dom_bulk
        self.tracker = None if db is None else \
            DomBulkTracker(db.k, db.every, db.refresh, tol=db.tol, max_iter=db.max_iter, seed=seed)
        self._before: list[Tensor] | None = None
        self._grad: list[Tensor] | None = None

    def _dom_bulk_step(self, step: int) -> bool:
        return self.spec.dom_bulk is not None and step % self.spec.dom_bulk.every == 0

    def _gram_step(self, step: int) -> bool:
        return self.spec.gram is not None and step % self.spec.gram.every == 0

    def before_step(self, step: int) -> None:
        """Snapshot what the step will consume: parameters (for ``update`` and ``s_t``)
        and gradients, only at the steps that need them."""
        params = self.task.params
        dom = self._dom_bulk_step(step)
        vectors = self.spec.dom_bulk.vectors if dom else ()
        if (self.spec.step_size and self.is_logged(step)) or "update" in vectors:
            self._before = [p.detach().clone() for p in params]
        if "gradient" in vectors:
            self._grad = [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]

    def after_step(self, step: int) -> dict[str, Tensor]:
        """Values for the logged row of ``step`` (0-d tensors on the parameters' device)."""
        params = self.task.params
        device = params[0].device
        row: dict[str, Tensor] = {}
        if self.spec.step_size and self._before is not None:
            row["step_size"] = effective_step_size(self._before, params)
        if self._gram_step(step):
            row.update(self._gram())
        # A diverging run has no Hessian to analyse: its ratios stay NaN (one sync).
        if self._dom_bulk_step(step) and all(bool(torch.isfinite(p).all()) for p in params):
            ratios = self.tracker.update(step, self._hessian, self._vectors())
            row.update({k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in dom_bulk_columns(ratios).items()})
        self._before = self._grad = None
        return row

    def _hessian(self):
        return hessian_operator(self.task.loss_fn, [p.detach().clone() for p in self.task.params])

    def _vectors(self) -> dict[str, Tensor]:
        params = self.task.params
        out: dict[str, Tensor] = {}
        for name in self.spec.dom_bulk.vectors:
            if name == "update":
                out[name] = _flat(params) - _flat(self._before)
            elif name == "gradient":
                out[name] = _flat(self._grad)
            else:
                buffers = [momentum_of(self.task.optimizer, p) for p in params]
                # Without a complete first moment the ratio is undefined: a NaN vector
                # gives NaN ratios.
                out[name] = _flat(buffers) if all(b is not None for b in buffers) else \
                    torch.full((sum(p.numel() for p in params),), math.nan, dtype=params[0].dtype, device=params[0].device)
        return out

    def _gram(self) -> dict[str, Tensor]:
        """``gram_r_*`` averaged over the 2-D momenta (RMNP eqs. 14-16) and, with several
        matrices, per parameter as ``gram_r_*_p<index in Task.params>``."""
        momenta = {
            i: m.detach()
            for i, p in enumerate(self.task.params)
            if p.ndim == 2 and p.shape[0] >= 2 and (m := momentum_of(self.task.optimizer, p)) is not None
        }
        device = self.task.params[0].device
        if not momenta:
            return {f"gram_{s}": torch.tensor(math.nan, device=device) for s in GRAM_STATS}
        row = {f"gram_{s}": v for s, v in mean_gram_diagonal_dominance(list(momenta.values())).items()}
        if len(momenta) > 1:
            for i, m in momenta.items():
                stats = gram_diagonal_dominance(m)
                row.update({f"gram_{s}_p{i}": stats[s] for s in GRAM_STATS})
        return row

    def spectrum(self) -> SpectralDensity | None:
        """SLQ density of the Hessian at the current parameters (``spectrum`` on)."""
        sp = self.spec.spectrum
        if sp is None:
            return None
        seed = int(np.random.SeedSequence([self.seed, 1]).generate_state(1)[0])
        return slq_density(self._hessian(), n_probes=sp.n_probes, n_steps=sp.n_steps, grid=sp.grid, seed=seed)


def spectrum_columns(density: SpectralDensity) -> dict[str, np.ndarray]:
    """Columns of ``runs/<run_id>.spectrum.csv``: ``eigenvalue`` (the grid) and ``density``."""
    return {"eigenvalue": density.grid.numpy(), "density": density.density.numpy()}
