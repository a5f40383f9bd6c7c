"""Seed ensembles (SPEC 8, issue 7): the S seeds of a network cell trained as one vmapped
program. Each seed's parameters come from its own init and are stacked ``(S, ...)`` by
``torch.func.stack_module_state``; one vmapped ``functional_call`` gives the ``(S,)``
per-seed losses, whose sum is differentiated (slice i of its gradient is seed i's
gradient). The hybrid split (SPEC 1) is the unbatched one applied per slice: the hidden
weights ``(S, h, h)`` go to the matrix optimizer with ``batched=True``, the rest to AdamW,
whose elementwise update is exact on stacked tensors and whose statistics keep the seed
axis (:func:`muonlab.optim.hybrid` with ``batch_ndim=1``), so no statistic mixes seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import stack_module_state

from muonlab import optim
from muonlab.diagnostics import effective_step_size
from muonlab.pinn import LossTerms
from muonlab.toyproblems import DigitsMLPBatch

from .config import RunConfig
from .helmholtz_task import build_problem, roi_detail, row_steps
from .task import EventRecord, SeedBatch, StepLoss, Task, summed


def digits_batch(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> SeedBatch:
    """Digits MLP (SPEC 2.4) for every seed of ``configs``: each seed's own split, init
    and mini-batch of step t (``DigitsMLP.batch(step)``); metrics ``test_loss`` and
    ``test_acc`` per seed, as in :func:`muonlab.runner.tasks.digits_task`."""
    config = configs[0]
    problem = DigitsMLPBatch.from_seeds([c.seed for c in configs], **dict(config.settings), dtype=dtype, device=device)
    params = {name: nn.Parameter(t) for name, t in problem.init_params().items()}
    optimizer = optim.hybrid(list(params.items()), matrix=config.optimizer, matrix_hparams=dict(config.hparams), batch_ndim=1)

    def metrics() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"test_loss": problem.loss(params, problem.X_test, problem.y_test), "test_acc": problem.accuracy(params)}

    task = Task(
        optimizer,
        list(params.values()),
        lambda step: summed(problem.batch_loss(params, step)),
        metrics=metrics,
        finals=lambda: {f"final_{k}": v for k, v in metrics().items()},
    )
    return SeedBatch(task, lambda: [[] for _ in configs])


def ensemble_limit(config: RunConfig) -> str | None:
    """Why a network cell cannot run as an ensemble for its settings, or None: the
    ``autograd`` Laplacian (nested ``autograd.grad``) does not run under ``vmap``."""
    if config.problem == "helmholtz" and dict(config.settings)["laplacian"] == "autograd":
        return "helmholtz laplacian 'autograd' does not run under vmap"
    return None


def helmholtz_batch(configs: Sequence[RunConfig], device: torch.device, dtype: torch.dtype) -> SeedBatch:
    """The Helmholtz PINN (SPEC 3, T Appendix F) for every seed of ``configs``: each
    seed's own init, collocation points and ROI patches; the rows, finals and events of
    :func:`muonlab.runner.helmholtz_task.helmholtz_task` with an ``(S,)`` value per seed.
    The loss and ``s_t`` are vmapped; the ROI metrics (at events only, each seed on its
    own patch) are taken seed by seed."""
    config = configs[0]
    settings = dict(config.settings)
    t0, steps, seeds = settings["t0"], config.steps, [c.seed for c in configs]
    problem = build_problem(config, device, dtype)
    stacked, _ = stack_module_state([problem.build_network(seed) for seed in seeds])
    named = [(name, nn.Parameter(t.detach().clone())) for name, t in stacked.items()]
    params = [p for _, p in named]
    optimizer = optim.hybrid(
        named, matrix=config.optimizer, other="adamw", matrix_hparams=dict(config.hparams),
        other_hparams={"lr": settings["other_lr"]}, batch_ndim=1,
    )
    loss_terms = torch.vmap(problem.loss_terms)
    rel_l2 = torch.vmap(problem.global_rel_l2)
    step_size = torch.vmap(effective_step_size)

    previous = [p.detach().clone() for p in params]
    step_sizes = torch.full((steps, len(seeds)), math.nan, dtype=torch.float64, device=device)
    # what loss(step) saw, for after_step(step): the (S,) loss terms and each seed's ROI
    terms: list[LossTerms] = []
    rois: list[int | None] = []
    row: dict[str, Tensor] = {}
    rel_l2_t0: list[Tensor] = []

    def loss(step: int) -> StepLoss:
        batches = [problem.batch(seed, step) for seed in seeds]
        out = loss_terms(params, torch.stack([b.interior for b in batches]), torch.stack([b.boundary for b in batches]))
        terms[:], rois[:] = [out], [b.roi for b in batches]
        return summed(out.loss)

    def after_step(step: int) -> None:
        s_t = step_size(previous, params)
        step_sizes[step - 1] = s_t
        for old, new in zip(previous, params):
            old.copy_(new)
        row.clear()
        row.update(residual=terms[0].residual.detach(), boundary=terms[0].boundary.detach(), step_size=s_t)
        if problem.is_eval_step(step) or step in (t0 - 1, steps):
            row["rel_l2"] = rel_l2(params)
            if step == t0 - 1:
                rel_l2_t0.append(row["rel_l2"])
        if rois[0] is not None:  # events are the same steps for every seed, patches differ
            row["roi_patch"] = torch.tensor([float(r) for r in rois], dtype=torch.float64, device=device)
            own = [problem.roi_metrics([p[i] for p in params], seed=seed, step=step) for i, seed in enumerate(seeds)]
            row.update({key: torch.stack([m[key] for m in own]) for key in own[0]})

    def finals() -> dict[str, Tensor]:
        window = step_sizes[: max(0, min(t0 - 1, steps))].cpu().numpy()
        nan = torch.full((len(seeds),), math.nan, dtype=torch.float64, device=device)
        return {
            "final_rel_l2": rel_l2(params),
            "rel_l2_t0": rel_l2_t0[0] if rel_l2_t0 else nan,
            # numpy's median per seed, as the single task's.
            "step_size_median": torch.from_numpy(np.median(window, axis=0)).to(device) if len(window) else nan,
        }

    event_steps = tuple(problem.event_steps)

    def seed_events() -> list[list[EventRecord]]:
        return [[EventRecord(e, "roi", roi_detail(problem.roi_patch(seed, e))) for e in event_steps] for seed in seeds]

    task = Task(
        optimizer,
        params,
        loss,
        metrics=lambda: dict(row),
        finals=finals,
        event_steps=event_steps,
        after_step=after_step,
        row_steps=row_steps(settings, steps, event_steps),
    )
    return SeedBatch(task, seed_events)
