"""Diagnostics that observe a run and never change its trajectory (SPEC section 4).

Operators (what is multiplied) are separate from the algorithms (how it is iterated):
``hessian_operator`` / ``MatrixOperator`` / ``MatvecOperator`` feed ``lanczos``, ``power_iteration``,
``slq_density``, ``hutchinson_trace``, ``hutchpp_trace`` and ``xtrace_trace`` alike. Imports only torch, numpy and scipy.
"""

from .density import slq_density
from .energy import column_energy, energy_ratios
from .gram import gram_diagonal_dominance, mean_gram_diagonal_dominance
from .hvp import hvp
from .lanczos import lanczos
from .operators import HessianOperator, MatrixOperator, MatvecOperator, Operator, hessian_operator
from .power import power_iteration
from .projections import DomBulkTracker, dom_bulk_ratio
from .results import EigenResult, SpectralDensity, TraceResult
from .spikes import rule_description, spike_events, spike_summary
from .steps import StepSizeTracker, effective_step_size
from .trace import hutchinson_trace, hutchpp_trace, xtrace_trace

__all__ = [
    "DomBulkTracker",
    "EigenResult",
    "HessianOperator",
    "MatrixOperator",
    "MatvecOperator",
    "Operator",
    "SpectralDensity",
    "StepSizeTracker",
    "TraceResult",
    "column_energy",
    "dom_bulk_ratio",
    "effective_step_size",
    "energy_ratios",
    "gram_diagonal_dominance",
    "hessian_operator",
    "hutchinson_trace",
    "hutchpp_trace",
    "xtrace_trace",
    "hvp",
    "lanczos",
    "mean_gram_diagonal_dominance",
    "power_iteration",
    "rule_description",
    "slq_density",
    "spike_events",
    "spike_summary",
]
