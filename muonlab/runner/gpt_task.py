"""The ``gpt`` problem as a runner task (SPEC 12; docs/gpt.md).

- Optimizer: a Muon-family optimizer gets the hybrid split, the hidden matrices
  (``attn.q/k/v/o``, ``mlp.up/down`` of every block) to ``config.optimizer`` and the
  embeddings, norms and head to AdamW at ``other_lr``; a baseline (sgd, adamw, sf-adamw)
  takes every parameter.
- Common random numbers: the language (``source_seed``), the init, the token stream and
  the burst events are functions of the run seed and step only, whatever the optimizer.
- Bursts (``[injection]``): one :class:`~muonlab.toyproblems.OutlierInjection` per
  targeted matrix (``inject_layers``), seeded by ``(run seed, parameter name)``, so every
  optimizer sees the same layers, columns and steps. ``inject_layers = "none"`` injects
  nothing but keeps the event steps, so the burst-off control's event-aligned spike
  statistics are measured at the same (placebo) steps. ``site = "gradient"`` with
  ``mode = "additive"`` is the ViT burst protocol of T App. E.5; ``site = "momentum"``
  the multiplicative eq. T-45 through the momentum hook (SPEC 2.2).
- Rows: ``val_loss`` and ``val_gap`` (``val_loss - entropy_floor``) and the Gram
  diagonal dominance ``gram_<type>`` (``r_avg`` of RMNP eq. 6 over the momenta of each
  layer type q, k, v, o, mlp) at the eval steps; the optimizer's statistics (TrasMuon's
  column-energy trace ``r_q95``, ``r_max``, ``c_used_min``) on every logged row.
- Finals: ``final_val_loss``, ``final_val_gap``, ``entropy_floor`` and
  ``steps_to_threshold``: the first step whose training loss, averaged over the last
  ``THRESHOLD_WINDOW`` steps, is ``<= threshold`` (NaN if never; T Sec. 4's "reaches 7.0
  in 48 steps" on a batch-noise-damped curve).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from muonlab import optim
from muonlab.diagnostics import gram_diagonal_dominance
from muonlab.gpt import GPT, GPTSettings, TokenStream, layer_type, next_token_loss, split_xy
from muonlab.gpt.problem import INJECT_LAYERS
from muonlab.optim.baselines import BASELINES
from muonlab.streams import blake2b_int
from muonlab.toyproblems import OutlierInjection, OutlierInjectionBatch

from .config import RunConfig
from .observers import momentum_of
from .task import EventRecord, StepLoss, Task

THRESHOLD_WINDOW = 10
GRAM_TYPES = {"q": ("q",), "k": ("k",), "v": ("v",), "o": ("o",), "mlp": ("up", "down")}


def build_stream(settings: dict, seed: int) -> TokenStream:
    return GPTSettings.from_items(settings.items()).stream(seed)


def build_model(settings: dict, vocab: int, seed: int, device: torch.device, dtype: torch.dtype) -> GPT:
    return GPTSettings.from_items(settings.items()).model(vocab, seed, device, dtype)


def build_optimizer(config: RunConfig, named: list[tuple[str, Tensor]], *, batch_ndim: int = 0):
    """The hybrid split for a matrix optimizer, one baseline over everything otherwise."""
    hparams = dict(config.hparams)
    if config.optimizer in BASELINES:
        return optim.build(config.optimizer, [p for _, p in named], **hparams)
    return optim.hybrid(
        named, matrix=config.optimizer, other="adamw", matrix_hparams=hparams,
        other_hparams={"lr": dict(config.settings)["other_lr"]},
        is_matrix=lambda name, p: layer_type(name) is not None, batch_ndim=batch_ndim,
    )


def layer_seed(seed: int, name: str) -> int:
    """The injection seed of parameter ``name`` in a run of seed ``seed``."""
    return blake2b_int(f"{seed}:{name}", 8)


class LayerBursts:
    """One seeded injection per targeted hidden matrix (by name): an
    :class:`OutlierInjection` for a run, an :class:`OutlierInjectionBatch` (one slice per
    seed) for a seed ensemble of ``seeds``."""

    def __init__(self, config: RunConfig, named: list[tuple[str, Tensor]], *, seeds: list[int] | None = None) -> None:
        settings = dict(config.injection or ())
        kinds = INJECT_LAYERS[dict(config.settings)["inject_layers"]]
        self.site = settings.get("site")
        self.targets = {name: p for name, p in named if layer_type(name) in kinds}
        # The schedule alone (inject_layers = "none": the burst-off control, whose
        # event-aligned statistics are taken at the same steps).
        self.schedule = OutlierInjection(**settings, seed=config.seed)
        self.injections: dict[str, OutlierInjection | OutlierInjectionBatch] = {
            name: OutlierInjection(**settings, seed=layer_seed(config.seed, name)) if seeds is None
            else OutlierInjectionBatch([layer_seed(s, name) for s in seeds], **settings)
            for name in self.targets
        }
        for name, p in self.targets.items():
            self.injections[name].check_columns(p.shape[-1])
        self._by_param = {id(p): self.injections[name] for name, p in self.targets.items()}

    def event_steps(self, steps: int) -> tuple[int, ...]:
        return tuple(self.schedule.event_steps(steps))

    def gradient_hook(self, step: int) -> None:
        """Gradient site: inject into every targeted ``.grad`` before ``step()``."""
        for name, p in self.targets.items():
            self.injections[name].apply(p.grad, step)

    def momentum_hook(self, param: Tensor, M: Tensor, step: int) -> None:
        """Momentum site (the Muon family's ``momentum_hook``, SPEC 1)."""
        injection = self._by_param.get(id(param))
        if injection is not None:
            injection.apply(M, step)

    def records(self, index: int | None = None) -> list[EventRecord]:
        """``events.csv`` rows of the run, or of seed ``index`` of an ensemble."""
        rows = [(e.step, name, e.columns) for name, inj in self.injections.items() for e in inj.events
                if index is None or e.slice == index]
        return [EventRecord(step, "injection", f"{name} columns " + " ".join(map(str, cols)))
                for step, name, cols in sorted(rows, key=lambda r: r[0])]


def eval_steps(settings: dict, steps: int) -> tuple[int, ...]:
    return tuple(sorted({*range(settings["eval_every"], steps + 1, settings["eval_every"]), steps}))


def steps_to_threshold(losses: np.ndarray, threshold: float) -> float:
    """First 1-based step whose trailing ``THRESHOLD_WINDOW``-step mean training loss is
    ``<= threshold`` (NaN if none)."""
    if len(losses) < THRESHOLD_WINDOW:
        return math.nan
    mean = np.convolve(losses, np.ones(THRESHOLD_WINDOW) / THRESHOLD_WINDOW, mode="valid")
    hits = np.flatnonzero(mean <= threshold)
    return float(hits[0] + THRESHOLD_WINDOW) if hits.size else math.nan


def gram_by_type(optimizer, named: list[tuple[str, Tensor]]) -> dict[str, Tensor]:
    """``gram_<type>``: the mean ``r_avg`` (RMNP eq. 6) of the momenta of each layer type."""
    out = {}
    for column, kinds in GRAM_TYPES.items():
        momenta = [m for name, p in named if layer_type(name) in kinds and (m := momentum_of(optimizer, p)) is not None]
        if momenta:
            out[f"gram_{column}"] = torch.stack([gram_diagonal_dominance(m)["r_avg"] for m in momenta]).mean(dim=0)
    return out


def gpt_task(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Task:
    """The GPT task of ``config`` (see the module docstring)."""
    settings = dict(config.settings)
    steps = config.steps
    stream = build_stream(settings, config.seed)
    model = build_model(settings, stream.vocab, config.seed, device, dtype)
    named = list(model.named_parameters())
    params = [p for _, p in named]
    bursts = LayerBursts(config, named) if config.injection is not None else None
    optimizer = build_optimizer(config, named)
    if bursts is not None and bursts.site == "momentum":
        optimizer.momentum_hook = bursts.momentum_hook
    valid = [split_xy(stream.valid_batch(i), device) for i in range(settings["eval_batches"])]
    floor = stream.entropy_floor
    train_losses = torch.full((steps,), math.nan, dtype=torch.float64, device=device)
    row: dict[str, Tensor] = {}
    evals = set(eval_steps(settings, steps))

    def val_loss() -> Tensor:
        with torch.no_grad():
            return torch.stack([next_token_loss(model, x, y) for x, y in valid]).mean()

    def loss(step: int) -> StepLoss:
        value = next_token_loss(model, *split_xy(stream.train_batch(step), device))
        train_losses[step - 1] = value.detach()
        return value, value

    def after_step(step: int) -> None:
        row.clear()
        if step in evals:
            v = val_loss()
            row.update(val_loss=v, val_gap=v - floor, **gram_by_type(optimizer, named))

    def finals() -> dict[str, float]:
        v = float(val_loss())
        return {
            "final_val_loss": v,
            "final_val_gap": v - floor,
            "entropy_floor": floor,
            "steps_to_threshold": steps_to_threshold(train_losses.cpu().numpy(), settings["threshold"]),
        }

    names = [n for n, _ in named]
    fixed_x, fixed_y = valid[0]

    def loss_fn(tensors: list[Tensor]) -> Tensor:
        # Hessian diagnostics differentiate twice: the fused CPU attention kernel has no
        # double backward, the math kernel (the same function) has.
        with sdpa_kernel(SDPBackend.MATH):
            return next_token_loss(model, fixed_x, fixed_y, dict(zip(names, tensors)))

    before_step: Callable[[int], None] | None = None
    if bursts is not None and bursts.site == "gradient":
        before_step = bursts.gradient_hook
    return Task(
        optimizer,
        params,
        loss,
        before_step=before_step,
        metrics=lambda: dict(row),
        finals=finals,
        event_steps=() if bursts is None else bursts.event_steps(steps),
        events=list if bursts is None else lambda: bursts.records(),
        loss_fn=loss_fn,
        after_step=after_step,
        row_steps=tuple(evals),
    )
