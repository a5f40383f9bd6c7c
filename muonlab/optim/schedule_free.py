"""Schedule-free averaging of AMUSE / SF-Muon (SPEC-optim sf-muon and amuse).

Three sequences: ``z`` (base), ``x`` (weighted average of z, the evaluated point) and
``y = (1 - beta_t) z + beta_t x`` (where gradients are taken). The scalar schedule is a
function of the step only; the tensor updates are in-place on ``x``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def warmup_lr(lr: float, t: int, T0: int) -> float:
    """``lr_t = lr min(1, t / T0)``."""
    return lr * min(1.0, t / T0)


def averaging_weight(lr_t: float, weight_sum: float) -> tuple[float, float]:
    """``w_t = lr_t^2``, ``c_t = w_t / sum_{i<=t} w_i``; returns ``(c_t, new weight_sum)``."""
    weight = lr_t**2
    total = weight_sum + weight
    return (weight / total if total > 0 else 1.0), total


def interpolation_beta(t: int, T0: int, *, beta1: float, rho: float, c_t: float, c_T0: float) -> float:
    """AMUSE ``beta_t``: ``beta1`` for ``t <= T0``, else ``1 - S_t^rho (1 - beta1)`` with
    ``S_t = c_t (1 - c_T0) / (c_T0 (1 - c_t))`` (the general form of the official code)."""
    if t <= T0:
        return beta1
    S_t = c_t * (1.0 - c_T0) / (c_T0 * (1.0 - c_t))
    return 1.0 - S_t**rho * (1.0 - beta1)


def average_into(x: Tensor, z: Tensor, c_t: float) -> None:
    """``x <- (1 - c_t) x + c_t z`` in place."""
    x.lerp_(z, c_t)


def interpolate(z: Tensor, x: Tensor, beta_t: float) -> Tensor:
    """``y = (1 - beta_t) z + beta_t x``."""
    return torch.lerp(z, x, beta_t)
