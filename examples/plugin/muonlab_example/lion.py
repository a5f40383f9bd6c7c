"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms", Algorithm 2).

Per parameter, with gradient g_t, momentum m (zero at start), weight decay lambda::

    c_t     = beta1 m_{t-1} + (1 - beta1) g_t              # interpolation
    theta_t = theta_{t-1} - lr (sign(c_t) + lambda theta_{t-1})
    m_t     = beta2 m_{t-1} + (1 - beta2) g_t              # momentum tracking

A plain ``torch.optim.Optimizer``: it knows nothing of muonlab (no ``last_stats``, no
``momentum_hook``). The momentum is stored as ``state["exp_avg"]``, the name muonlab's
momentum diagnostics look for (as torch's Adam does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


class Lion(torch.optim.Optimizer):
    """Lion: lr > 0 (default 1e-4), betas in [0, 1)^2 (default (0.9, 0.99)),
    weight_decay >= 0 (default 0, decoupled, scaled by lr)."""

    def __init__(self, params: Any, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0) -> None:
        if not lr > 0.0:
            raise ValueError(f"Lion: lr must be > 0, got {lr!r}")
        if not (len(betas) == 2 and all(0.0 <= b < 1.0 for b in betas)):
            raise ValueError(f"Lion: betas must be two numbers in [0, 1), got {betas!r}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Lion: weight_decay must be >= 0, got {weight_decay!r}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "exp_avg" not in state:
                    state["exp_avg"] = torch.zeros_like(p)
                m = state["exp_avg"]
                c = m.mul(beta1).add_(p.grad, alpha=1.0 - beta1)
                p.mul_(1.0 - group["lr"] * group["weight_decay"])
                p.add_(c.sign_(), alpha=-group["lr"])
                m.mul_(beta2).add_(p.grad, alpha=1.0 - beta2)
        return loss
