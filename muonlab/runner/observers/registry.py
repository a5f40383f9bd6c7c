"""The ``[diagnostics]`` registry: study-file key -> :class:`~.protocol.Diagnostic`
class, in the order ``muonlab list`` and error messages show them. Adding a diagnostic
is one module and one line here (docs/architecture.md)."""

from __future__ import annotations

from .dom_bulk import DomBulk
from .gram import Gram
from .protocol import Diagnostic
from .spectrum import Spectrum
from .step_size import StepSize

DIAGNOSTICS: dict[str, type[Diagnostic]] = {
    "dom_bulk": DomBulk,
    "gram": Gram,
    "step_size": StepSize,
    "spectrum": Spectrum,
}
