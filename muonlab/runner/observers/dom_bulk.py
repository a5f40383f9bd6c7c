"""``[diagnostics] dom_bulk``: dominant/bulk ratios of the update, gradient and momentum
against the top-k Hessian subspace (AMUSE; :class:`muonlab.diagnostics.DomBulkTracker`).

Vectors (flat, in the order of the seed's parameters): ``update`` is the parameter
change of the step ``theta_t - theta_{t-1}``; ``gradient`` the ``.grad`` the optimizer
steps with (after any gradient-site injection); ``momentum`` the optimizer's first
moment after the step (:mod:`~muonlab.runner.observers.seed_view`). A parameter
without a first moment makes the momentum ratios NaN.

The Hessian is the seed's own: its functional ``loss_fn`` differentiated at clones of
its parameters, so in a seed batch each seed's Lanczos sees its own Hessian block.
Lanczos start vectors come from a generator seeded by the run seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from muonlab.diagnostics import DomBulkTracker, Operator, hessian_operator

from ..settings import ConfigError, float_at_least, int_at_least
from .protocol import Diagnostic, NameList, settings_record
from .seed_view import SeedView

VECTORS = ("update", "gradient", "momentum")
SETTINGS = (
    int_at_least("k", 1, 10, "top-k Hessian eigenvectors (the dominant subspace)"),
    int_at_least("every", 1, 16, "observe every `every` steps"),
    int_at_least("refresh", 1, 64, "recompute the subspace by Lanczos every `refresh` steps"),
    float_at_least("tol", 0.0, 1e-3, "Lanczos Ritz-residual tolerance", strict=True),
    int_at_least("max_iter", 1, 100, "HVP budget of one subspace refresh (>= k); caps the cost near convergence"),
    NameList("vectors", VECTORS, ("update",), "vectors whose ratios are recorded"),
)
DomBulkSpec = settings_record("DomBulkSpec", SETTINGS, __name__)


def _flat(tensors: list[Tensor]) -> Tensor:
    return torch.cat([t.detach().reshape(-1) for t in tensors])


def dom_bulk_columns(ratios: dict[str, float]) -> dict[str, float]:
    """Tracker keys to CSV columns: the update's ratios are ``r_dom`` / ``r_bulk``, the
    others keep their suffix (``r_dom_gradient``, ``r_bulk_momentum``)."""
    return {key.removesuffix("_update"): value for key, value in ratios.items()}


class DomBulk(Diagnostic):
    """``r_dom``, ``r_bulk`` (and ``_gradient`` / ``_momentum``) every ``every`` steps."""

    name = "dom_bulk"
    description = ("dominant/bulk ratios r_dom, r_bulk against the top-k Hessian subspace (AMUSE); "
                   "keys k, every, refresh, tol, max_iter, vectors (update|gradient|momentum)")
    settings = SETTINGS
    spec = DomBulkSpec
    needs_loss_fn = True
    columns = tuple(f"r_{kind}{suffix}" for suffix in ("", "_gradient", "_momentum") for kind in ("dom", "bulk"))
    column_order = 2
    _before: list[Tensor] | None = None
    _grad: list[Tensor] | None = None

    def __init__(self, spec: Any, view: SeedView, *, is_logged: Callable[[int], bool]) -> None:
        super().__init__(spec, view, is_logged=is_logged)
        self.tracker = DomBulkTracker(spec.k, spec.every, spec.refresh, tol=spec.tol, max_iter=spec.max_iter, seed=view.seed)

    @classmethod
    def check(cls, spec: Any, path: str, *, log_every: int) -> None:
        if spec.max_iter < spec.k:
            raise ConfigError(f"{path}.max_iter: must be >= k = {spec.k}, got {spec.max_iter}")
        super().check(spec, path, log_every=log_every)

    def before_step(self, step: int) -> None:
        if step % self.options.every != 0:
            return
        params = self.view.params
        if "update" in self.options.vectors:
            self._before = [p.detach().clone() for p in params]
        if "gradient" in self.options.vectors:
            self._grad = [torch.zeros_like(p) if g is None else g.detach().clone() for p, g in zip(params, self.view.grads())]

    def after_step(self, step: int) -> dict[str, Tensor]:
        if step % self.options.every != 0:
            return {}
        params = self.view.params
        row: dict[str, Tensor] = {}
        # A diverging run has no Hessian to analyse: its ratios stay NaN (one sync).
        if all(bool(torch.isfinite(p).all()) for p in params):
            ratios = self.tracker.update(step, self._hessian, self._vectors(params))
            device = params[0].device
            row = {k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in dom_bulk_columns(ratios).items()}
        self._before = self._grad = None
        return row

    def _hessian(self) -> Operator:
        return hessian_operator(self.view.loss_fn, [p.detach().clone() for p in self.view.params])

    def _vectors(self, params: list[Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for name in self.options.vectors:
            if name == "update":
                out[name] = _flat(params) - _flat(self._before)
            elif name == "gradient":
                out[name] = _flat(self._grad)
            else:
                buffers = self.view.momenta()
                # Without a complete first moment the ratio is undefined: a NaN vector
                # gives NaN ratios.
                out[name] = _flat(buffers) if all(b is not None for b in buffers) else \
                    torch.full((sum(p.numel() for p in params),), math.nan, dtype=params[0].dtype, device=params[0].device)
        return out
