"""``[diagnostics] gram``: Gram diagonal dominance of the momenta (RMNP eqs. 5-6, 14-16;
:func:`muonlab.diagnostics.gram_diagonal_dominance`). The worked example of
docs/architecture.md, "Adding a diagnostic"."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from muonlab.diagnostics import gram_diagonal_dominance, mean_gram_diagonal_dominance

from ..settings import int_at_least
from .protocol import Diagnostic, settings_record

GRAM_STATS = ("r_avg", "r_min", "r_max")
SETTINGS = (int_at_least("every", 1, 16, "observe every `every` steps"),)
GramSpec = settings_record("GramSpec", SETTINGS, __name__)


class Gram(Diagnostic):
    """``gram_r_avg``, ``gram_r_min``, ``gram_r_max`` every ``every`` steps, averaged over
    the seed's 2-D momenta (eqs. 14-16) and, with several matrices, per parameter as
    ``gram_r_*_p<index in Task.params>``; NaN when no matrix has a first moment."""

    name = "gram"
    description = "Gram diagonal dominance gram_r_avg, gram_r_min, gram_r_max of the momenta (RMNP eqs. 5-6); key every"
    settings = SETTINGS
    spec = GramSpec
    columns = tuple(f"gram_{s}" for s in GRAM_STATS)
    column_order = 1

    def after_step(self, step: int) -> dict[str, Tensor]:
        if step % self.options.every != 0:
            return {}
        params = self.view.params
        momenta = {
            i: m.detach()
            for i, (p, m) in enumerate(zip(params, self.view.momenta()))
            if p.ndim == 2 and p.shape[0] >= 2 and m is not None
        }
        if not momenta:
            return {f"gram_{s}": torch.tensor(math.nan, device=params[0].device) for s in GRAM_STATS}
        row = {f"gram_{s}": v for s, v in mean_gram_diagonal_dominance(list(momenta.values())).items()}
        if len(momenta) > 1:
            for i, m in momenta.items():
                stats = gram_diagonal_dominance(m)
                row.update({f"gram_{s}_p{i}": stats[s] for s in GRAM_STATS})
        return row
