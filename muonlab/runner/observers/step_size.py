"""``[diagnostics] step_size``: the effective step size ``s_t`` on every logged row
(T F.2, :func:`muonlab.diagnostics.effective_step_size`)."""

from __future__ import annotations

from torch import Tensor

from muonlab.diagnostics import effective_step_size

from .protocol import Diagnostic


class StepSize(Diagnostic):
    """``step_size = ||theta_t - theta_{t-1}|| / sqrt(P)`` of the seed's parameters."""

    name = "step_size"
    description = "effective step size s_t = ||theta_t - theta_{t-1}|| / sqrt(P) on every logged row (true|false)"
    columns = ("step_size",)
    column_order = 0
    _before: list[Tensor] | None = None

    def before_step(self, step: int) -> None:
        if self.is_logged(step):
            self._before = [p.detach().clone() for p in self.view.params]

    def after_step(self, step: int) -> dict[str, Tensor]:
        if self._before is None:
            return {}
        before, self._before = self._before, None
        return {"step_size": effective_step_size(before, self.view.params)}
