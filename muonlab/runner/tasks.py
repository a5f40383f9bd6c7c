"""Problem adapters: one :class:`Task` per problem kind (docs/architecture.md).

A task bundles what the run loop needs and nothing else: the parameters and their
optimizer, the loss of a step, an optional gradient hook (gradient-site injection),
per-row metrics (0-d tensors, no sync), final metrics, the run's events, and the
functional loss the Hessian diagnostics differentiate (SPEC 10 ``loss_fn``).

Seeding (common random numbers): the run seed is the problem instance seed (which also
draws the init) and the injection seed, identically for every optimizer of a study.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from muonlab import optim
from muonlab.diagnostics.hvp import LossFn
from muonlab.toyproblems import AWBT, DigitsMLP, InjectionEvent, OutlierInjection, OutlierInjectionBatch, RiverValley

from .closed_loop import with_column_scales
from .config import RunConfig
from .gpt_task import gpt_task
from .helmholtz_task import helmholtz_task
from .split import wants_hybrid
from .task import EventRecord, StepLoss, Task


def build_task(config: RunConfig, *, device: torch.device, dtype: torch.dtype) -> Task:
    """The task of ``config``'s problem on ``device`` in ``dtype``."""
    return TASK_BUILDERS[config.problem](config, device, dtype)


def _injection(config: RunConfig) -> OutlierInjection | None:
    if config.injection is None:
        return None
    return OutlierInjection(**dict(config.injection), seed=config.seed)


def wire_injection(
    injection: OutlierInjection | OutlierInjectionBatch, site: str, W: nn.Parameter, basis: Tensor | None, hparams: dict[str, Any]
) -> Callable[[int], None] | None:
    """Route an injection (single or seed-batched) to ``W``: through the optimizer's
    momentum hook (site ``momentum``, eq. T-45; set in ``hparams``), or as a gradient hook
    to call before ``step()`` (returned)."""
    injection.check_columns(W.shape[-1])
    if site == "momentum":
        hparams["momentum_hook"] = injection.momentum_hook(basis, target=W)
        return None

    def before_step(step: int) -> None:
        injection.apply(W.grad, step, V=basis)

    return before_step


def injection_record(event: InjectionEvent) -> EventRecord:
    """The ``events.csv`` row of one injection event."""
    return EventRecord(event.step, "injection", "columns " + " ".join(str(j) for j in event.columns))


def _matrix_task(
    config: RunConfig,
    W: nn.Parameter,
    loss: Callable[[int], StepLoss],
    *,
    basis: Tensor | None,
    metrics: Callable[[], dict[str, Tensor]],
    finals: Callable[[], dict[str, float]],
    loss_fn: LossFn,
) -> Task:
    """A single-matrix task (AWB-T, river valley) with the optional outlier injection in
    feature basis ``basis`` (None = W's own columns): through the optimizer's momentum
    hook (site ``momentum``, eq. T-45) or on the gradient before ``step()``."""
    injection = _injection(config)
    hparams = dict(config.hparams)
    before_step = None if injection is None else wire_injection(injection, injection.site, W, basis, hparams)
    optimizer = optim.build(config.optimizer, [W], **hparams)
    if injection is None:
        return Task(optimizer, [W], loss, metrics=metrics, finals=finals, loss_fn=loss_fn)
    metrics = with_column_scales(metrics, optimizer, W, injection, config.steps)

    return Task(
        optimizer,
        [W],
        loss,
        before_step=before_step,
        metrics=metrics,
        finals=finals,
        event_steps=tuple(injection.event_steps(config.steps)),
        events=lambda: [injection_record(e) for e in injection.events],
        loss_fn=loss_fn,
    )


def awbt_task(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Task:
    """AWB-T (SPEC 2.1): ``W = W0`` (d x d), loss ``1/2 ||AWB - T||^2``; metric
    ``rel_dist = ||W - W*||_F / ||W*||_F``; injection basis: the columns of V."""
    problem = AWBT.from_settings(config.problem_settings(), config.seed, dtype=dtype, device=device)
    W = nn.Parameter(problem.W0.clone())
    star_norm = torch.linalg.matrix_norm(problem.W_star)

    def rel_dist() -> Tensor:
        return torch.linalg.matrix_norm(W.detach() - problem.W_star) / star_norm

    return _matrix_task(
        config,
        W,
        lambda step: _same(problem.loss(W)),
        # V = I when fix_V: pass None so the injection scales columns without a matmul.
        basis=None if problem.fix_V else problem.V,
        metrics=lambda: {"rel_dist": rel_dist()},
        finals=lambda: {"final_rel_dist": float(rel_dist())},
        loss_fn=lambda params: problem.loss(params[0]),
    )


def river_valley_task(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Task:
    """River valley (SPEC 2.3): ``W = W0 = 0`` (m x n); the objective carries the step's
    gradient noise (``stochastic_loss``), the logged loss is the exact ``loss(W)``;
    metrics ``river_progress`` and ``wall_energy``; injection basis: W's columns; the
    Hessian loss is the exact (noise-free) ``loss(W)``."""
    problem = RiverValley.from_settings(config.problem_settings(), config.seed, dtype=dtype, device=device)
    W = nn.Parameter(problem.W0.clone())

    def loss(step: int) -> StepLoss:
        exact = problem.loss(W)
        if problem.noise == "none":
            return exact, exact
        return exact + (problem.gradient_noise(step) * W).sum(), exact

    def metrics() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"river_progress": problem.river_progress(W), "wall_energy": problem.wall_energy(W)}

    def finals() -> dict[str, float]:
        values = metrics()
        return {"final_river_progress": float(values["river_progress"]), "final_wall_energy": float(values["wall_energy"])}

    return _matrix_task(
        config, W, loss, basis=None, metrics=metrics, finals=finals, loss_fn=lambda params: problem.loss(params[0])
    )


def digits_task(config: RunConfig, device: torch.device, dtype: torch.dtype) -> Task:
    """Digits MLP (SPEC 2.4): mini-batch cross-entropy of step t; Muon-family optimizers
    get the hybrid split (hidden 2-D weight to the matrix optimizer, the rest to AdamW),
    baselines all parameters; metrics ``test_loss`` and ``test_acc``. The Hessian loss is
    the cross-entropy of a fixed evaluation batch: the batch stream's draw for step 0,
    which no training step uses (steps start at 1)."""
    problem = DigitsMLP.from_settings(config.problem_settings(), config.seed, dtype=dtype, device=device)
    model = problem.model
    hparams = dict(config.hparams)
    if wants_hybrid(config):
        optimizer = optim.hybrid(model, matrix=config.optimizer, matrix_hparams=hparams)
    else:
        optimizer = optim.build(config.optimizer, model.parameters(), **hparams)

    def metrics() -> dict[str, Tensor]:
        return {"test_loss": problem.test_loss(), "test_acc": problem.accuracy()}

    def finals() -> dict[str, float]:
        return {f"final_{k}": float(v) for k, v in metrics().items()}

    return Task(
        optimizer,
        list(model.parameters()),
        lambda step: _same(problem.batch_loss(step)),
        metrics=metrics,
        finals=finals,
        loss_fn=problem.loss_fn(*problem.batch(0)),
    )


def _same(loss: Tensor) -> StepLoss:
    return loss, loss


TASK_BUILDERS: dict[str, Callable[[RunConfig, torch.device, torch.dtype], Task]] = {
    "awbt": awbt_task,
    "river_valley": river_valley_task,
    "digits": digits_task,
    "helmholtz": helmholtz_task,
    "gpt": gpt_task,
}
