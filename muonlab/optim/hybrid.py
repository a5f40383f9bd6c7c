"""The standard split (SPEC section 1): hidden 2-D weights to a matrix optimizer, the rest
(embeddings, heads, input layer, biases, norms, 1-D parameters) to ``other``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from .base import MomentumHook
from .registry import build, hyperparameters

EXCLUDED_NAME_PARTS = ("embed", "head", "norm")


def default_is_matrix(named: list[tuple[str, Tensor]]) -> list[bool]:
    """2-D parameters other than the first and the last 2-D one (input layer, output
    head) whose name contains none of ``embed``/``head``/``norm``."""
    two_d = [i for i, (_, p) in enumerate(named) if p.ndim == 2]
    ends = {two_d[0], two_d[-1]} if two_d else set()
    return [
        p.ndim == 2 and i not in ends and not any(part in name.lower() for part in EXCLUDED_NAME_PARTS)
        for i, (name, p) in enumerate(named)
    ]


class HybridOptimizer:
    """One optimizer object over a matrix optimizer and an ``other`` optimizer.

    ``step(closure)`` evaluates the closure once and steps both. ``state_dict()`` is
    ``{"matrix": ..., "other": ...}``. ``last_stats_tensors()`` combines ``update_fro``
    (root of the summed squares) and ``update_rms`` (over all entries of both), keeps the
    matrix optimizer's own statistics under their names, and adds ``matrix_update_rms``
    and ``other_update_rms`` (plus the other optimizer's extra keys prefixed ``other_``).
    With ``batch_ndim`` leading (seed) axes on every parameter, both optimizers' statistics
    keep those axes and the combination counts the entries of one slice.
    """

    def __init__(
        self, matrix: torch.optim.Optimizer | None, other: torch.optim.Optimizer | None, *, batch_ndim: int = 0
    ) -> None:
        self.matrix = matrix
        self.other = other
        self.optimizers: dict[str, torch.optim.Optimizer] = {
            role: opt for role, opt in (("matrix", matrix), ("other", other)) if opt is not None
        }
        self._numel = {
            role: sum(p[(0,) * batch_ndim].numel() for g in opt.param_groups for p in g["params"])
            for role, opt in self.optimizers.items()
        }

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return [g for opt in self.optimizers.values() for g in opt.param_groups]

    @property
    def momentum_hook(self) -> MomentumHook | None:
        return getattr(self.matrix, "momentum_hook", None)

    @momentum_hook.setter
    def momentum_hook(self, hook: MomentumHook | None) -> None:
        if self.matrix is not None:
            self.matrix.momentum_hook = hook  # type: ignore[attr-defined]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for opt in self.optimizers.values():
            opt.step()
        return loss

    def want_stats(self, wanted: bool) -> None:
        """Statistics on or off for the following steps of every part that records
        them (see :meth:`~muonlab.optim.stats.StatsMixin.want_stats`; an external part
        has none)."""
        for opt in self.optimizers.values():
            if hasattr(opt, "want_stats"):
                opt.want_stats(wanted)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=set_to_none)

    def train(self) -> None:
        # getattr: an external part (a plain torch.optim.Optimizer) has no schedule-free switch.
        for opt in self.optimizers.values():
            getattr(opt, "train", lambda: None)()

    def eval(self) -> None:
        for opt in self.optimizers.values():
            getattr(opt, "eval", lambda: None)()

    def state_dict(self) -> dict[str, Any]:
        return {role: opt.state_dict() for role, opt in self.optimizers.items()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if set(state_dict) != set(self.optimizers):
            raise ValueError(f"hybrid state_dict must have keys {sorted(self.optimizers)}, got {sorted(state_dict)}")
        for role, opt in self.optimizers.items():
            opt.load_state_dict(state_dict[role])

    def last_stats_tensors(self) -> dict[str, Tensor]:
        parts = {role: opt.last_stats_tensors() for role, opt in self.optimizers.items()}  # type: ignore[attr-defined]
        out: dict[str, Tensor] = {}
        sq_sum: Tensor | None = None
        numel = 0
        for role, stats in parts.items():
            for key, value in stats.items():
                if key in ("update_fro", "update_rms"):
                    continue
                out[key if role == "matrix" else f"other_{key}"] = value
            if "update_fro" in stats:
                out[f"{role}_update_rms"] = stats["update_rms"]
                sq = stats["update_fro"].square()
                sq_sum = sq if sq_sum is None else sq_sum + sq
                numel += self._numel[role]
        if sq_sum is not None:
            out["update_fro"] = sq_sum.sqrt()
            out["update_rms"] = (sq_sum / numel).sqrt()
        return out

    def last_stats(self) -> dict[str, float | list[float]]:
        return {k: (v.item() if v.ndim == 0 else v.tolist()) for k, v in self.last_stats_tensors().items()}


def _named_parameters(model_or_named_params: nn.Module | Iterable[tuple[str, Tensor]]) -> list[tuple[str, Tensor]]:
    if isinstance(model_or_named_params, nn.Module):
        named = list(model_or_named_params.named_parameters())
    else:
        named = list(model_or_named_params)
    return [(name, p) for name, p in named if p.requires_grad]


def hybrid(
    model_or_named_params: nn.Module | Iterable[tuple[str, Tensor]],
    matrix: str = "muon",
    other: str = "adamw",
    matrix_hparams: dict[str, Any] | None = None,
    other_hparams: dict[str, Any] | None = None,
    is_matrix: Callable[[str, Tensor], bool] | None = None,
    momentum_hook: MomentumHook | None = None,
    *,
    batch_ndim: int = 0,
) -> HybridOptimizer:
    """Split a model's parameters between ``matrix`` and ``other`` (registry names).

    The default rule (``is_matrix=None``, see :func:`default_is_matrix`) sends hidden 2-D
    weights to ``matrix``; ``is_matrix(name, param)`` overrides it. ``momentum_hook`` goes
    to the matrix optimizer. Either side may end up empty (then it is left out).

    ``batch_ndim=1`` splits a seed ensemble (SPEC 8): every parameter is stacked
    ``(S, ...)`` over S copies of one model (``torch.func.stack_module_state``). The rule
    sees one slice, the matrix optimizer runs with ``batched=True`` on the ``(S, m, n)``
    weights, and ``other`` (an elementwise baseline, whose update is exact on stacked
    tensors) keeps the seed axis in its statistics, so every statistic has shape ``(S,)``.
    """
    if batch_ndim not in (0, 1):
        raise ValueError(f"hybrid: batch_ndim must be 0 or 1, got {batch_ndim!r}")
    named = _named_parameters(model_or_named_params)
    if not named:
        raise ValueError("hybrid: model_or_named_params must contain at least one parameter with requires_grad, got none")
    sliced = [(n, p[(0,) * batch_ndim]) for n, p in named]
    flags = [bool(is_matrix(n, p)) for n, p in sliced] if is_matrix is not None else default_is_matrix(sliced)
    matrix_params = [p for (_, p), flag in zip(named, flags) if flag]
    other_params = [p for (_, p), flag in zip(named, flags) if not flag]
    matrix_kw = dict(matrix_hparams or {})
    if momentum_hook is not None:
        if "momentum_hook" not in hyperparameters(matrix):
            raise ValueError(f"hybrid: matrix optimizer {matrix!r} has no momentum_hook; choose a Muon-family optimizer")
        matrix_kw["momentum_hook"] = momentum_hook
    if batch_ndim:
        if "batched" not in hyperparameters(matrix):
            raise ValueError(f"hybrid: matrix optimizer {matrix!r} has no batched mode; batch_ndim must be 0 for it")
        matrix_kw["batched"] = True
    matrix_opt = build(matrix, matrix_params, **matrix_kw) if matrix_params else None
    other_opt = build(other, other_params, **(other_hparams or {})) if other_params else None
    if other_opt is not None and batch_ndim:
        if not hasattr(other_opt, "stats_batch_ndim"):
            raise ValueError(f"hybrid: other optimizer {other!r} has no per-slice statistics; choose sgd, adamw or sf-adamw")
        other_opt.stats_batch_ndim = batch_ndim  # type: ignore[attr-defined]
    return HybridOptimizer(matrix_opt, other_opt, batch_ndim=batch_ndim)
