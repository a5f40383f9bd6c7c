"""The ``helmholtz`` problem as a runner task (SPEC 3, T Appendix F).

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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from muonlab import optim
from muonlab.diagnostics import effective_step_size
from muonlab.pinn import ROI_PATCHES, Helmholtz, LossTerms

from .config import RunConfig
from .split import wants_hybrid
from .task import EventRecord, StepLoss, Task


def build_problem(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Helmholtz:
    """The ``Helmholtz`` protocol of ``config``; without ROI events its first event lies
    past the run's end, so every step samples Uniform(Omega) with the same streams."""
    return Helmholtz.from_settings(config.problem_settings(), steps=config.steps, dtype=dtype, device=device)


def roi_detail(patch: int) -> str:
    """``events.csv`` detail of an ROI event: the patch index and its rectangle."""
    x0, x1, y0, y1 = ROI_PATCHES[patch]
    return f"patch {patch} [{x0:.2f},{x1:.2f}]x[{y0:.2f},{y1:.2f}]"


@dataclass
class _StepState:
    """What ``loss(step)`` saw, for ``after_step(step)``: the loss terms and the ROI."""

    terms: LossTerms | None = None
    roi: int | None = None


def row_steps(settings: Mapping[str, int], steps: int, event_steps: tuple[int, ...]) -> tuple[int, ...]:
    """Steps that get a CSV row besides every ``every``-th: the global rel-L2 evaluations,
    the ROI events and ``t0 - 1`` (the state the first event meets)."""
    t0 = settings["t0"]
    eval_steps = range(settings["eval_every"], steps + 1, settings["eval_every"])
    return tuple(sorted({*eval_steps, *event_steps, *([t0 - 1] if t0 > 1 else [])}))


def helmholtz_task(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Task:
    """The Helmholtz PINN task of ``config`` (see the module docstring)."""
    settings = dict(config.settings)
    t0, seed, steps = settings["t0"], config.seed, config.steps
    problem = build_problem(config, device, dtype)
    network = problem.build_network(seed)
    params = list(network.parameters())
    hparams = dict(config.hparams)
    if not wants_hybrid(config):
        optimizer = optim.build(config.optimizer, params, **hparams)
    else:
        optimizer = optim.hybrid(
            network, matrix=config.optimizer, other="adamw", matrix_hparams=hparams,
            other_hparams={"lr": settings["other_lr"]},
        )

    # theta_{t-1} for s_t, updated in place; s_t of every step stays on the device.
    previous = [p.detach().clone() for p in params]
    step_sizes = torch.full((steps,), math.nan, dtype=torch.float64, device=device)
    current = _StepState()
    row: dict[str, Tensor] = {}
    rel_l2_t0: list[Tensor] = []

    def loss(step: int) -> StepLoss:
        batch = problem.batch(seed, step)
        terms = problem.loss_terms(params, batch.interior, batch.boundary)
        current.terms, current.roi = terms, batch.roi
        return terms.loss, terms.loss

    def after_step(step: int) -> None:
        s_t = effective_step_size(previous, params)
        step_sizes[step - 1] = s_t
        for old, new in zip(previous, params):
            old.copy_(new)
        row.clear()
        row.update(residual=current.terms.residual.detach(), boundary=current.terms.boundary.detach(), step_size=s_t)
        if problem.is_eval_step(step) or step in (t0 - 1, steps):
            row["rel_l2"] = problem.global_rel_l2(params)
            if step == t0 - 1:
                rel_l2_t0.append(row["rel_l2"])
        if current.roi is not None:
            row["roi_patch"] = torch.tensor(float(current.roi), dtype=torch.float64, device=device)
            row.update(problem.roi_metrics(params, seed=seed, step=step))

    def finals() -> dict[str, float]:
        window = step_sizes[: max(0, min(t0 - 1, steps))].cpu().numpy()
        return {
            "final_rel_l2": float(problem.global_rel_l2(params)),
            "rel_l2_t0": float(rel_l2_t0[0]) if rel_l2_t0 else math.nan,
            # numpy's median (mean of the two middle values), as StepSizeTracker.median.
            "step_size_median": float(np.median(window)) if window.size else math.nan,
        }

    event_steps = tuple(problem.event_steps)

    def events() -> list[EventRecord]:
        return [EventRecord(e, "roi", roi_detail(problem.roi_patch(seed, e))) for e in event_steps]

    # The Hessian diagnostics' fixed functional loss: the uniform collocation batch of
    # step 0, which training never draws (as digits uses its step-0 mini-batch).
    fixed = problem.batch(seed, 0)

    def loss_fn(tensors: list[Tensor]) -> Tensor:
        return problem.loss_terms(tensors, fixed.interior, fixed.boundary).loss

    return Task(
        optimizer,
        params,
        loss,
        metrics=lambda: dict(row),
        finals=finals,
        event_steps=event_steps,
        events=events,
        after_step=after_step,
        loss_fn=loss_fn,
        row_steps=row_steps(settings, steps, event_steps),
    )
