"""Teacher-student linear regression: a muonlab problem plugin.

Data: x ~ N(0, I_{d_in}) (n samples, drawn from the seed), targets y = W* x + b* from a
teacher (W* with N(0, 1/d_in) entries, b* ~ N(0, 1)). The student ``(W, b)`` starts at
zero and minimises the mean squared error ``1/(2B) sum ||W x + b - y||^2`` on the
mini-batch of each step (drawn from (seed, step), so reruns are identical). The teacher
is the known optimum (the loss is 0 there; unique when n > d_in), so the runner logs
``rel_dist``; the full-data loss is the fixed functional loss for the Hessian
diagnostics. ``W`` is the matrix of the hybrid split, ``b`` goes to AdamW.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from muonlab.runner import ProblemPlugin
from muonlab.schema import Schema, at_least


@dataclass(frozen=True)
class RegressionSettings(Schema):
    """The ``[problem]`` keys: study validation, grids and ``muonlab list`` read them."""

    owner: ClassVar[str] = "teacher_regression"
    d_in: int = at_least(1, 16, "input dimension (columns of W)")
    d_out: int = at_least(1, 8, "output dimension (rows of W)")
    n: int = at_least(2, 256, "training samples")
    batch_size: int = at_least(1, 32, "mini-batch size")


class TeacherRegression(ProblemPlugin):
    description = "teacher-student linear regression y = W* x + b*, mini-batch MSE (example plugin)"
    schema = RegressionSettings
    default_steps = 200
    metrics = ("full_loss",)
    known_optimum = True

    def build(self, settings: Mapping[str, Any], *, seed: int, device: torch.device, dtype: torch.dtype) -> "RegressionInstance":
        return RegressionInstance(**settings, seed=seed, device=device, dtype=dtype)


class RegressionInstance:
    """One seed of :class:`TeacherRegression` (the muonlab ProblemInstance protocol)."""

    def __init__(self, *, d_in: int, d_out: int, n: int, batch_size: int, seed: int, device: torch.device, dtype: torch.dtype) -> None:
        data = torch.Generator().manual_seed(seed)
        self.X = torch.randn(n, d_in, generator=data, dtype=torch.float64).to(device, dtype)
        self.W_star = (torch.randn(d_out, d_in, generator=data, dtype=torch.float64) / math.sqrt(d_in)).to(device, dtype)
        self.b_star = torch.randn(d_out, generator=data, dtype=torch.float64).to(device, dtype)
        self.Y = self.X @ self.W_star.T + self.b_star
        self.W = nn.Parameter(torch.zeros(d_out, d_in, device=device, dtype=dtype))
        self.b = nn.Parameter(torch.zeros(d_out, device=device, dtype=dtype))
        self.batch_size, self.seed = batch_size, seed

    def named_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [("W", self.W), ("b", self.b)]

    def _mse(self, W: Tensor, b: Tensor, X: Tensor, Y: Tensor) -> Tensor:
        return 0.5 * (X @ W.T + b - Y).square().sum(dim=1).mean()

    def loss(self, step: int) -> Tensor:
        # One generator per (seed, step): the batch of a step does not depend on history.
        rows = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        index = torch.randint(self.X.shape[0], (self.batch_size,), generator=rows).to(self.X.device)
        return self._mse(self.W, self.b, self.X[index], self.Y[index])

    def loss_fn(self, params: list[Tensor]) -> Tensor:
        return self._mse(params[0], params[1], self.X, self.Y)

    def metrics(self) -> dict[str, Tensor]:
        return {"full_loss": self._mse(self.W.detach(), self.b.detach(), self.X, self.Y)}

    def optimum(self) -> list[Tensor]:
        return [self.W_star, self.b_star]

    def is_matrix(self, name: str, param: Tensor) -> bool:
        return param.ndim == 2
