"""The ``helmholtz`` problem (SPEC 3, T Appendix F).

- Optimizer: the hybrid split for matrix optimizers (the hidden ``width x width`` weights
  to ``config.optimizer``, the input/output layers and biases to AdamW with ``other_lr``);
  a baseline (``sgd``, ``adamw``, ``sf-adamw``) takes the whole network.
- Common random numbers: the init, the collocation points and the ROI patches are
  functions of the run seed (and step) only, whatever the optimizer.
- Per logged row: the unweighted ``residual`` and ``boundary`` terms and the achieved
  step ``step_size`` (``s_t = ||theta_t - theta_{t-1}||_2 / sqrt(P)``, T F.2) of that
  step; ``rel_l2`` at eval steps, at ``t0 - 1`` and at the last step; at ROI events
  ``roi_patch`` (index into ``ROI_PATCHES``), ``roi_rel_l2``, ``roi_nrmse`` and
  ``nonroi_rel_l2``, all measured after that step's update.
- Finals: ``final_rel_l2``, ``rel_l2_t0`` (after step ``t0 - 1``: the state the first ROI
  event meets) and ``step_size_median`` (median ``s_t`` over the stationary window,
  steps ``1 .. t0 - 1``).
- ``roi = false`` runs the same protocol with uniform sampling at every step (the
  no-ROI reference); ``t0`` still bounds the stationary window.
- A cell is a vmapped ensemble: each seed's own init, collocation points and ROI
  patches; the loss, ``s_t`` and ``rel_l2`` are vmapped, the ROI metrics (at events
  only, each seed on its own patch) taken seed by seed. The ``autograd`` Laplacian
  (nested ``autograd.grad``) does not run under ``vmap``: such cells run per seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from muonlab.diagnostics import effective_step_size
from muonlab.pinn import ROI_PATCHES, Helmholtz, LossTerms

from ..config import RunConfig
from ..split import wants_hybrid
from ..task import EventRecord, StepLoss, Task, summed
from .base import Adapter, Seeds, network_optimizer, split_limit


def build_problem(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Helmholtz:
    """The ``Helmholtz`` protocol of ``config``; without ROI events its first event lies
    past the run's end, so every step samples Uniform(Omega) with the same streams."""
    s = dict(config.settings)
    return Helmholtz(
        s["k"],
        lambda_b=s["lambda_b"],
        N_r=s["N_r"],
        N_b=s["N_b"],
        t0=s["t0"] if s["roi"] else config.steps + 1,
        K_out=s["K_out"],
        alpha=s["alpha"],
        eval_every=s["eval_every"],
        steps=config.steps,
        width=s["width"],
        depth=s["depth"],
        activation=s["activation"],
        laplacian=s["laplacian"],
        eval_grid=s["eval_grid"],
        roi_grid=s["roi_grid"],
        N_nonroi=s["N_nonroi"],
        dtype=dtype,
        device=device,
    )


def roi_detail(patch: int) -> str:
    """``events.csv`` detail of an ROI event: the patch index and its rectangle."""
    x0, x1, y0, y1 = ROI_PATCHES[patch]
    return f"patch {patch} [{x0:.2f},{x1:.2f}]x[{y0:.2f},{y1:.2f}]"


def row_steps(settings: Mapping[str, int], steps: int, event_steps: tuple[int, ...]) -> tuple[int, ...]:
    """Steps that get a CSV row besides every ``every``-th: the global rel-L2 evaluations,
    the ROI events and ``t0 - 1`` (the state the first event meets)."""
    t0 = settings["t0"]
    eval_steps = range(settings["eval_every"], steps + 1, settings["eval_every"])
    return tuple(sorted({*eval_steps, *event_steps, *([t0 - 1] if t0 > 1 else [])}))


def build(seeds: Seeds, device: torch.device, dtype: torch.dtype) -> Task:
    """The Helmholtz PINN task of ``seeds`` (see the module docstring)."""
    config, settings = seeds.config, seeds.settings
    t0, steps = settings["t0"], config.steps
    problem = build_problem(config, device, dtype)
    named = seeds.parameters([problem.build_network(seed) for seed in seeds.seeds])
    params = [p for _, p in named]
    optimizer = network_optimizer(seeds, named, hybrid=wants_hybrid(config), other_hparams={"lr": settings["other_lr"]})
    loss_terms = seeds.vmap(problem.loss_terms)
    rel_l2 = seeds.vmap(problem.global_rel_l2)
    step_size = seeds.vmap(effective_step_size)

    # theta_{t-1} for s_t, updated in place; s_t of every step stays on the device.
    previous = [p.detach().clone() for p in params]
    step_sizes = torch.full((steps, *seeds.shape), math.nan, dtype=torch.float64, device=device)
    # what loss(step) saw, for after_step(step): the loss terms and each seed's ROI
    seen: dict[str, Any] = {}
    row: dict[str, Tensor] = {}
    rel_l2_t0: list[Tensor] = []

    def terms_of(step: int) -> tuple[LossTerms, list[int | None]]:
        batches = [problem.batch(seed, step) for seed in seeds.seeds]
        interior, boundary = seeds.stack([b.interior for b in batches]), seeds.stack([b.boundary for b in batches])
        return loss_terms(params, interior, boundary), [b.roi for b in batches]

    def loss(step: int) -> StepLoss:
        seen["terms"], seen["rois"] = terms_of(step)
        return summed(seen["terms"].loss)

    def after_step(step: int) -> None:
        s_t = step_size(previous, params)
        step_sizes[step - 1] = s_t
        for old, new in zip(previous, params):
            old.copy_(new)
        row.clear()
        terms, rois = seen["terms"], seen["rois"]
        row.update(residual=terms.residual.detach(), boundary=terms.boundary.detach(), step_size=s_t)
        if problem.is_eval_step(step) or step in (t0 - 1, steps):
            row["rel_l2"] = rel_l2(params)
            if step == t0 - 1:
                rel_l2_t0.append(row["rel_l2"])
        if rois[0] is not None:  # events are the same steps for every seed, patches differ
            row["roi_patch"] = seeds.stack([torch.tensor(float(r), dtype=torch.float64, device=device) for r in rois])
            own = [problem.roi_metrics(seeds.slice(params, i), seed=seed, step=step) for i, seed in enumerate(seeds.seeds)]
            row.update({key: seeds.stack([m[key] for m in own]) for key in own[0]})

    def finals() -> dict[str, Any]:
        window = step_sizes[: max(0, min(t0 - 1, steps))].cpu().numpy()
        return {
            "final_rel_l2": rel_l2(params),
            "rel_l2_t0": rel_l2_t0[0] if rel_l2_t0 else math.nan,
            # numpy's median (mean of the two middle values) per seed, as StepSizeTracker.median.
            "step_size_median": np.median(window, axis=0) if len(window) else math.nan,
        }

    event_steps = tuple(problem.event_steps)

    def seed_events() -> list[list[EventRecord]]:
        return [[EventRecord(e, "roi", roi_detail(problem.roi_patch(seed, e))) for e in event_steps] for seed in seeds.seeds]

    # The Hessian diagnostics' fixed functional loss: the uniform collocation batch of
    # step 0, which training never draws (as digits uses its step-0 mini-batch).
    fixed = [problem.batch(seed, 0) for seed in seeds.seeds]

    def loss_fn(tensors: list[Tensor]) -> Tensor:
        return loss_terms(tensors, seeds.stack([b.interior for b in fixed]), seeds.stack([b.boundary for b in fixed])).loss

    return Task(
        optimizer,
        params,
        loss,
        metrics=lambda: dict(row),
        finals=finals,
        event_steps=event_steps,
        seed_events=seed_events,
        after_step=after_step,
        loss_fn=loss_fn,
        row_steps=row_steps(settings, steps, event_steps),
    )


def batch_limit(config: RunConfig) -> str | None:
    """Why a Helmholtz cell cannot run as an ensemble, or None."""
    if dict(config.settings)["laplacian"] == "autograd":
        return "helmholtz laplacian 'autograd' does not run under vmap"
    return split_limit(config)


ADAPTER = Adapter(build, batch_limit=batch_limit)
