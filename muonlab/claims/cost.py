"""Step cost of two optimizers, measured side by side (cost claims, e.g. RMNP's).

Wall time is not part of any study file (CSV files hold nothing time-dependent), so a
cost claim times ``optimizer.step()`` itself: each label's optimizer (its registry name
and first hyperparameter combination in the study) on fresh matrices of the claim's
``shapes`` with fixed random gradients, ``repeats`` rounds, the labels interleaved
within a round so that machine load affects both alike; a round's time is the median of
``STEPS_PER_ROUND`` steps. Rounds pair like seeds. Times vary between machines and
runs; the verdict rests on their ratio.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch

from muonlab import optim
from muonlab.runner.config import RUNNER_HPARAMS, StudyConfig

STEPS_PER_ROUND = 5
WARMUP_STEPS = 2


def _optimizer_for(study: StudyConfig, label: str, shapes: Sequence[tuple[int, int]], seed: int) -> torch.optim.Optimizer:
    spec = next(s for s in study.optimizers if s.label == label)
    hparams = {k: v for k, v in next(spec.combinations()) if k not in RUNNER_HPARAMS}
    generator = torch.Generator().manual_seed(seed)
    params = []
    for rows, cols in shapes:
        p = torch.nn.Parameter(torch.randn(rows, cols, generator=generator))
        p.grad = torch.randn(rows, cols, generator=generator)
        params.append(p)
    return optim.build(spec.name, params, **hparams)


def _seconds_per_step(optimizer: torch.optim.Optimizer) -> float:
    times = []
    for _ in range(STEPS_PER_ROUND):
        start = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def step_times(study: StudyConfig, labels: Sequence[str], shapes: Sequence[tuple[int, int]],
               repeats: int) -> dict[str, np.ndarray]:
    """Seconds per ``step()`` of each label, one value per round (aligned across labels)."""
    with torch.no_grad():
        optimizers = {label: _optimizer_for(study, label, shapes, seed=0) for label in labels}
        for opt in optimizers.values():
            for _ in range(WARMUP_STEPS):
                opt.step()
        out: dict[str, list[float]] = {label: [] for label in labels}
        for _ in range(repeats):
            for label, opt in optimizers.items():
                out[label].append(_seconds_per_step(opt))
    return {label: np.asarray(v) for label, v in out.items()}
