"""The ``gpt`` problem as a seed ensemble (SPEC 8, 12): the S seeds of a cell trained as
one vmapped program, as :func:`muonlab.runner.ensemble.digits_batch` does for the digits
MLP. Each seed has its own init and token stream (the language is the cell's); the
stacked parameters ``(S, ...)`` come from ``torch.func.stack_module_state``, the hidden
matrices go to the matrix optimizer with ``batched=True`` and the rest to AdamW with
per-slice statistics (``hybrid(batch_ndim=1)``); bursts are one
:class:`~muonlab.toyproblems.OutlierInjectionBatch` per targeted matrix, slice i seeded
as seed i's run. Rows, finals and events are those of
:func:`muonlab.runner.gpt_task.gpt_task`, one value per seed.

``scaled_dot_product_attention`` has no vmap batching rule for its CPU kernel in this
torch: vmap falls back to a loop over the seeds for that one op (same numbers, less
speed), and its performance warning is silenced here.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

from .config import RunConfig
from .gpt_task import LayerBursts, build_model, build_optimizer, build_stream, eval_steps, gram_by_type, steps_to_threshold
from .task import SeedBatch, Task, summed

FALLBACK_WARNING = ".*batching rule for aten::_scaled_dot_product"


def gpt_batch(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> SeedBatch:
    """The GPT task for every seed of ``configs`` (see the module docstring)."""
    config = configs[0]
    settings, steps, seeds = dict(config.settings), config.steps, [c.seed for c in configs]
    streams = [build_stream(settings, seed) for seed in seeds]
    models = [build_model(settings, streams[0].vocab, seed, device, dtype) for seed in seeds]
    stacked, _ = stack_module_state(models)
    named = [(name, nn.Parameter(t.detach().clone())) for name, t in stacked.items()]
    params = [p for _, p in named]
    skeleton = copy.deepcopy(models[0]).to("meta")
    bursts = LayerBursts(config, named, seeds=seeds) if config.injection is not None else None
    optimizer = build_optimizer(config, named, batch_ndim=1)
    if bursts is not None and bursts.site == "momentum":
        optimizer.momentum_hook = bursts.momentum_hook
    floor = streams[0].entropy_floor
    evals = set(eval_steps(settings, steps))

    def tokens(batches: list[np.ndarray]) -> tuple[Tensor, Tensor]:
        t = torch.from_numpy(np.stack(batches)).to(device)
        return t[..., :-1], t[..., 1:]

    valid = [tokens([s.valid_batch(i) for s in streams]) for i in range(settings["eval_batches"])]

    def losses(x: Tensor, y: Tensor) -> Tensor:
        """``(S,)`` mean next-token cross-entropies (as ``next_token_loss`` per seed)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=FALLBACK_WARNING, category=UserWarning)
            logits = torch.vmap(lambda p, xs: functional_call(skeleton, p, (xs,)))(dict(named), x)
        S, vocab = logits.shape[0], logits.shape[-1]
        return F.cross_entropy(logits.reshape(S, -1, vocab).transpose(1, 2), y.reshape(S, -1), reduction="none").mean(-1)

    def val_loss() -> Tensor:
        with torch.no_grad():
            return torch.stack([losses(x, y) for x, y in valid]).mean(dim=0)

    train_losses = torch.full((steps, len(seeds)), math.nan, dtype=torch.float64, device=device)
    row: dict[str, Tensor] = {}

    def loss(step: int):
        value = losses(*tokens([s.train_batch(step) for s in streams]))
        train_losses[step - 1] = value.detach()
        return summed(value)

    def after_step(step: int) -> None:
        row.clear()
        if step in evals:
            v = val_loss()
            row.update(val_loss=v, val_gap=v - floor, **gram_by_type(optimizer, named))

    def finals() -> dict[str, Tensor]:
        v = val_loss()
        host = train_losses.cpu().numpy()
        reached = [steps_to_threshold(host[:, i], settings["threshold"]) for i in range(len(seeds))]
        return {
            "final_val_loss": v,
            "final_val_gap": v - floor,
            "entropy_floor": torch.full_like(v, floor, dtype=torch.float64),
            "steps_to_threshold": torch.tensor(reached, dtype=torch.float64, device=device),
        }

    task = Task(
        optimizer,
        params,
        loss,
        before_step=bursts.gradient_hook if bursts is not None and bursts.site == "gradient" else None,
        metrics=lambda: dict(row),
        finals=finals,
        event_steps=() if bursts is None else bursts.event_steps(steps),
        after_step=after_step,
        row_steps=tuple(evals),
    )
    if bursts is None:
        return SeedBatch(task, lambda: [[] for _ in configs])
    return SeedBatch(task, lambda: [bursts.records(i) for i in range(len(seeds))])
