"""The AWB-T Hessian as a diagnostics ``Operator``, shared by the Lanczos benches
(``make bench`` skips ``bench/_*.py``)."""

from __future__ import annotations

import torch

from muonlab.toyproblems import AWBT


class AWBTHessian:
    """``AWBT.hessian_matvec`` as a diagnostics ``Operator`` (float64)."""

    def __init__(self, problem: AWBT) -> None:
        self.problem = problem
        self.dim, self.device, self.dtype = problem.dim, problem.device, problem.dtype

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        return self.problem.hessian_matvec(v)
