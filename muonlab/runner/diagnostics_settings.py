"""The ``[diagnostics]`` table of a study file (SPEC 4, 5): schema and validation.

    [diagnostics]
    dom_bulk = { k = 10, every = 16, refresh = 64, vectors = ["update", "gradient", "momentum"] }
    gram = { every = 16 }        # Gram diagonal dominance of the momenta (RMNP eqs. 5-6)
    step_size = true             # s_t on every logged row (T F.2)
    spectrum = { n_probes = 4 }  # SLQ Hessian density at the end of the run

A table entry may also be ``true`` (all defaults) or ``false`` (off). Observation
steps (``every``) must be multiples of the study's logging ``every`` so that every
observation lands on a CSV row. Diagnostics observe only: they are not part of a run's
identity (``run_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .settings import ConfigError, Setting, float_at_least, int_at_least, type_name

VECTORS = ("update", "gradient", "momentum")

DOM_BULK_SETTINGS: tuple[Setting, ...] = (
    int_at_least("k", 1, 10, "top-k Hessian eigenvectors (the dominant subspace)"),
    int_at_least("every", 1, 16, "observe every `every` steps"),
    int_at_least("refresh", 1, 64, "recompute the subspace by Lanczos every `refresh` steps"),
    float_at_least("tol", 0.0, 1e-3, "Lanczos Ritz-residual tolerance", strict=True),
    int_at_least("max_iter", 1, 100, "HVP budget of one subspace refresh (>= k); caps the cost near convergence"),
)
GRAM_SETTINGS: tuple[Setting, ...] = (int_at_least("every", 1, 16, "observe every `every` steps"),)
SPECTRUM_SETTINGS: tuple[Setting, ...] = (
    int_at_least("n_probes", 1, 4, "Rademacher probes of stochastic Lanczos quadrature"),
    int_at_least("n_steps", 1, 40, "Lanczos steps per probe"),
    int_at_least("grid", 2, 400, "points of the density grid"),
)

DIAGNOSTICS: dict[str, str] = {
    "dom_bulk": "dominant/bulk ratios r_dom, r_bulk against the top-k Hessian subspace (AMUSE); "
    "keys k, every, refresh, tol, max_iter, vectors (update|gradient|momentum)",
    "gram": "Gram diagonal dominance gram_r_avg, gram_r_min, gram_r_max of the momenta (RMNP eqs. 5-6); key every",
    "step_size": "effective step size s_t = ||theta_t - theta_{t-1}|| / sqrt(P) on every logged row (true|false)",
    "spectrum": "Hessian spectral density by SLQ at the end of the run, runs/<run_id>.spectrum.csv; "
    "keys n_probes, n_steps, grid",
}


@dataclass(frozen=True)
class DomBulkSpec:
    """Dominant/bulk tracking (SPEC 4): ``vectors`` among :data:`VECTORS`."""

    k: int = 10
    every: int = 16
    refresh: int = 64
    tol: float = 1e-3
    max_iter: int = 100
    vectors: tuple[str, ...] = ("update",)


@dataclass(frozen=True)
class GramSpec:
    """Gram diagonal dominance of the momentum matrices every ``every`` steps."""

    every: int = 16


@dataclass(frozen=True)
class SpectrumSpec:
    """End-of-run SLQ spectral density settings (``slq_density``)."""

    n_probes: int = 4
    n_steps: int = 40
    grid: int = 400


@dataclass(frozen=True)
class DiagnosticsSpec:
    """Which diagnostics a run records (all off by default)."""

    dom_bulk: DomBulkSpec | None = None
    gram: GramSpec | None = None
    step_size: bool = False
    spectrum: SpectrumSpec | None = None

    @property
    def enabled(self) -> bool:
        return any((self.dom_bulk, self.gram, self.step_size, self.spectrum))


def parse_diagnostics(value: Any, *, log_every: int) -> DiagnosticsSpec:
    """Validate the ``[diagnostics]`` table; ``log_every`` is the study's ``every``."""
    if not isinstance(value, dict):
        raise ConfigError(f"diagnostics: expected a table, got {type_name(value)} {value!r}")
    for key in value:
        if key not in DIAGNOSTICS:
            raise ConfigError(f"diagnostics.{key}: unknown key; allowed: {', '.join(DIAGNOSTICS)}")
    step_size = Setting("step_size", bool, False, "true or false").coerce(value.get("step_size", False), "diagnostics.step_size")
    dom_bulk = _entry(value, "dom_bulk", DOM_BULK_SETTINGS, extra=("vectors",))
    gram = _entry(value, "gram", GRAM_SETTINGS)
    spectrum = _entry(value, "spectrum", SPECTRUM_SETTINGS)
    if dom_bulk is not None and dom_bulk["max_iter"] < dom_bulk["k"]:
        raise ConfigError(f"diagnostics.dom_bulk.max_iter: must be >= k = {dom_bulk['k']}, got {dom_bulk['max_iter']}")
    for name, table in (("dom_bulk", dom_bulk), ("gram", gram)):
        if table is not None and table["every"] % log_every != 0:
            raise ConfigError(
                f"diagnostics.{name}.every: must be a multiple of the study's every = {log_every} "
                f"(observations land on logged rows), got {table['every']}"
            )
    return DiagnosticsSpec(
        dom_bulk=None if dom_bulk is None else DomBulkSpec(**dom_bulk),
        gram=None if gram is None else GramSpec(**gram),
        step_size=step_size,
        spectrum=None if spectrum is None else SpectrumSpec(**spectrum),
    )


def _entry(table: Mapping[str, Any], name: str, settings: tuple[Setting, ...], *, extra: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """Settings of entry ``name`` with defaults filled; None when absent or ``false``."""
    path = f"diagnostics.{name}"
    value = table.get(name, False)
    if isinstance(value, bool):
        value = {} if value else None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a table, true or false, got {type_name(value)} {value!r}")
    allowed = tuple(s.name for s in settings) + extra
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}: unknown key; allowed: {', '.join(allowed)}")
    out = {s.name: s.coerce(value[s.name], f"{path}.{s.name}") if s.name in value else s.default for s in settings}
    if "vectors" in extra:
        out["vectors"] = _vectors(value.get("vectors", ["update"]), f"{path}.vectors")
    return out


def _vectors(value: Any, path: str) -> tuple[str, ...]:
    allowed = ", ".join(VECTORS)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{path}: expected a non-empty array of names from {allowed}, got {type_name(value)} {value!r}")
    for i, name in enumerate(value):
        if name not in VECTORS or not isinstance(name, str):
            raise ConfigError(f"{path}[{i}]: must be one of {allowed}, got {name!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{path}: names must be distinct, got {value!r}")
    return tuple(value)
