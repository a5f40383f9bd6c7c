"""The ``gpt`` problem (SPEC 12; docs/gpt.md).

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
- A cell is a vmapped ensemble: each seed's own init and token stream (the language is
  the cell's), parameters stacked ``(S, ...)``, the hybrid split per slice
  (``hybrid(batch_ndim=1)``), bursts one :class:`~muonlab.toyproblems.OutlierInjectionBatch`
  per targeted matrix, slice i seeded as seed i's run. ``scaled_dot_product_attention``
  has no vmap batching rule for its CPU kernel in this torch: vmap falls back to a loop
  over the seeds for that one op (same numbers, less speed), and its performance warning
  is silenced here.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call
from torch.nn.attention import SDPBackend, sdpa_kernel

from muonlab.diagnostics import gram_diagonal_dominance
from muonlab.gpt import GPT, TokenStream, layer_type, next_token_loss, split_xy
from muonlab.optim.baselines import BASELINES
from muonlab.streams import blake2b_int
from muonlab.toyproblems import OutlierInjection, OutlierInjectionBatch

from ..observers import momentum_of
from ..task import EventRecord, StepLoss, Task, summed
from .base import Adapter, Seeds, network_optimizer

THRESHOLD_WINDOW = 10
GRAM_TYPES = {"q": ("q",), "k": ("k",), "v": ("v",), "o": ("o",), "mlp": ("up", "down")}
INJECT_LAYERS = {
    "all": ("q", "k", "v", "o", "up", "down"), "attention": ("q", "k", "v", "o"), "mlp": ("up", "down"), "none": (),
}
FALLBACK_WARNING = ".*batching rule for aten::_scaled_dot_product"


def build_stream(settings: dict, seed: int) -> TokenStream:
    s = settings
    return TokenStream.from_spec(
        s["data"], seed=seed, context=s["context"], batch_size=s["batch_size"], vocab=s["vocab"], order=s["order"],
        support=s["support"], zipf=s["zipf"], source_seed=s["source_seed"],
    )


def build_model(settings: dict, vocab: int, seed: int, device: torch.device, dtype: torch.dtype) -> GPT:
    s = settings
    return GPT(vocab, d_model=s["d_model"], n_layers=s["n_layers"], n_heads=s["n_heads"], context=s["context"],
               seed=seed, dtype=dtype).to(device)


def layer_seed(seed: int, name: str) -> int:
    """The injection seed of parameter ``name`` in a run of seed ``seed``."""
    return blake2b_int(f"{seed}:{name}", 8)


class LayerBursts:
    """One seeded injection per targeted hidden matrix (by name): an
    :class:`OutlierInjection` for a run, an :class:`OutlierInjectionBatch` (one slice per
    seed) for a cell."""

    def __init__(self, seeds: Seeds, named: list[tuple[str, Tensor]]) -> None:
        config = seeds.config
        settings = dict(config.injection or ())
        kinds = INJECT_LAYERS[seeds.settings["inject_layers"]]
        self.site = settings.get("site")
        self.targets = {name: p for name, p in named if layer_type(name) in kinds}
        # The schedule alone (inject_layers = "none": the burst-off control, whose
        # event-aligned statistics are taken at the same steps).
        self.schedule = OutlierInjection(**settings, seed=config.seed)
        self.injections: dict[str, OutlierInjection | OutlierInjectionBatch] = {
            name: OutlierInjectionBatch([layer_seed(s, name) for s in seeds.seeds], **settings) if seeds.batched
            else OutlierInjection(**settings, seed=layer_seed(config.seed, name))
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
        """``events.csv`` rows of the run, or of seed ``index`` of a cell."""
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


def gram_by_type(optimizer: Any, named: list[tuple[str, Tensor]]) -> dict[str, Tensor]:
    """``gram_<type>``: the mean ``r_avg`` (RMNP eq. 6) of the momenta of each layer type."""
    out = {}
    for column, kinds in GRAM_TYPES.items():
        momenta = [m for name, p in named if layer_type(name) in kinds and (m := momentum_of(optimizer, p)) is not None]
        if momenta:
            out[f"gram_{column}"] = torch.stack([gram_diagonal_dominance(m)["r_avg"] for m in momenta]).mean(dim=0)
    return out


def next_token_losses(seeds: Seeds, model: GPT, named: list[tuple[str, Tensor]]) -> Callable[[Tensor, Tensor], Tensor]:
    """``(x, y) -> `` mean next-token cross-entropy: a run's through its model, a cell's
    ``(S,)`` per seed through one vmapped ``functional_call`` of a parameter-free copy."""
    if not seeds.batched:
        return lambda x, y: next_token_loss(model, x, y)
    skeleton = copy.deepcopy(model).to("meta")

    def losses(x: Tensor, y: Tensor) -> Tensor:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=FALLBACK_WARNING, category=UserWarning)
            logits = torch.vmap(lambda p, xs: functional_call(skeleton, p, (xs,)))(dict(named), x)
        S, vocab = logits.shape[0], logits.shape[-1]
        return F.cross_entropy(logits.reshape(S, -1, vocab).transpose(1, 2), y.reshape(S, -1), reduction="none").mean(-1)

    return losses


def build(seeds: Seeds, device: torch.device, dtype: torch.dtype) -> Task:
    """The GPT task of ``seeds`` (see the module docstring)."""
    config, settings, steps = seeds.config, seeds.settings, seeds.config.steps
    streams = [build_stream(settings, seed) for seed in seeds.seeds]
    models = [build_model(settings, streams[0].vocab, seed, device, dtype) for seed in seeds.seeds]
    named = seeds.parameters(models)
    params = [p for _, p in named]
    bursts = LayerBursts(seeds, named) if config.injection is not None else None
    optimizer = network_optimizer(
        seeds, named, hybrid=config.optimizer not in BASELINES, other_hparams={"lr": settings["other_lr"]},
        is_matrix=lambda name, p: layer_type(name) is not None,
    )
    if bursts is not None and bursts.site == "momentum":
        optimizer.momentum_hook = bursts.momentum_hook
    losses = next_token_losses(seeds, models[0], named)

    def tokens(batches: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        return split_xy(seeds.stack(batches), device)

    valid = [tokens([s.valid_batch(i) for s in streams]) for i in range(settings["eval_batches"])]
    floor = streams[0].entropy_floor
    train_losses = torch.full((steps, *seeds.shape), math.nan, dtype=torch.float64, device=device)
    row: dict[str, Tensor] = {}
    evals = set(eval_steps(settings, steps))

    def val_loss() -> Tensor:
        with torch.no_grad():
            return torch.stack([losses(x, y) for x, y in valid]).mean(dim=0)

    def loss(step: int) -> StepLoss:
        value = losses(*tokens([s.train_batch(step) for s in streams]))
        train_losses[step - 1] = value.detach()
        return summed(value)

    def after_step(step: int) -> None:
        row.clear()
        if step in evals:
            v = val_loss()
            row.update(val_loss=v, val_gap=v - floor, **gram_by_type(optimizer, named))

    def finals() -> dict[str, Any]:
        v = val_loss()
        host = train_losses.cpu().numpy().reshape(steps, -1)
        reached = [steps_to_threshold(host[:, i], settings["threshold"]) for i in range(host.shape[1])]
        return {
            "final_val_loss": v,
            # in float64, as the host subtraction of one run
            "final_val_gap": v.double() - floor,
            "entropy_floor": floor,
            "steps_to_threshold": np.reshape(reached, seeds.shape),
        }

    # an unbatched injection's events carry no slice (records(None): all of them)
    seed_slices = range(len(seeds.configs)) if seeds.batched else [None]
    names = [n for n, _ in named]
    fixed_x, fixed_y = valid[0]

    def loss_fn(tensors: list[Tensor]) -> Tensor:
        # Hessian diagnostics differentiate twice: the fused CPU attention kernel has no
        # double backward, the math kernel (the same function) has.
        with sdpa_kernel(SDPBackend.MATH):
            return next_token_loss(models[0], fixed_x, fixed_y, dict(zip(names, tensors)))

    return Task(
        optimizer,
        params,
        loss,
        before_step=bursts.gradient_hook if bursts is not None and bursts.site == "gradient" else None,
        metrics=lambda: dict(row),
        finals=finals,
        event_steps=() if bursts is None else bursts.event_steps(steps),
        seed_events=None if bursts is None else lambda: [bursts.records(i) for i in seed_slices],
        loss_fn=None if seeds.batched else loss_fn,
        after_step=after_step,
        row_steps=tuple(evals),
    )


ADAPTER = Adapter(build)
