"""What a diagnostic sees of one seed: :class:`SeedView` (parameters, gradients,
first moments and the functional loss of one run, or of one slice of a seed batch).

First moments are read from the optimizer's state under :data:`MOMENTUM_KEYS`:

- ``momentum_buffer``: sgd (torch.optim.SGD, when momentum > 0), muon, normuon,
  trasmuon and its variants, rmnp, da-muon, sc-muon, df-muon, and the matrices of
  amuse / sf-muon;
- ``exp_avg``: adamw (and the AdamW side of a hybrid optimizer);
- none: sf-adamw (schedule-free keeps ``z`` and ``exp_avg_sq``, no first moment) and
  the 1-D parameters of amuse / sf-muon.

A batched optimizer keeps its state shaped like its ``(S, ...)`` parameters, so seed
i's moment is slice i of the buffer, as its parameter is slice i of the parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from muonlab.diagnostics.hvp import LossFn

MOMENTUM_KEYS = ("momentum_buffer", "exp_avg")


def momentum_of(optimizer: Any, p: Tensor) -> Tensor | None:
    """The first-moment buffer of ``p`` in ``optimizer``'s state (see the module
    docstring), looking inside a hybrid optimizer's parts; None when it has none."""
    parts = getattr(optimizer, "optimizers", {"": optimizer})
    for part in parts.values():
        # .get: the state is a defaultdict, indexing would add an entry for p.
        state = part.state.get(p)
        if state:
            for key in MOMENTUM_KEYS:
                if key in state:
                    return state[key]
    return None


@dataclass(frozen=True)
class SeedView:
    """One seed's share of a run: ``index`` None for a run of its own (the task's
    parameters themselves), or i for slice i of a seed batch's ``(S, ...)`` parameters.

    ``loss_fn`` is the seed's own fixed functional loss over tensors shaped like
    :attr:`params` (for Hessian diagnostics; None when the problem has none). Every
    accessor reads the current values, so a view made once follows the whole run.
    """

    seed: int
    optimizer: Any
    batch_params: Sequence[Tensor]
    loss_fn: LossFn | None
    index: int | None = None

    def _own(self, tensor: Tensor) -> Tensor:
        return tensor if self.index is None else tensor.detach()[self.index]

    @property
    def params(self) -> list[Tensor]:
        """The seed's parameters (views: they change as the optimizer steps)."""
        return [self._own(p) for p in self.batch_params]

    def grads(self) -> list[Tensor | None]:
        """The seed's ``.grad`` of each parameter (None where there is none)."""
        return [None if p.grad is None else self._own(p.grad) for p in self.batch_params]

    def momenta(self) -> list[Tensor | None]:
        """The seed's first moment of each parameter (None where there is none)."""
        return [None if (m := momentum_of(self.optimizer, p)) is None else self._own(m) for p in self.batch_params]
