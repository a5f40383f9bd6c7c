"""The ``[diagnostics]`` table of a study file (SPEC 4, 5): :class:`DiagnosticsSpec`
and its validation, both read from the registry (:data:`.registry.DIAGNOSTICS`).

    [diagnostics]
    dom_bulk = { k = 10, every = 16, refresh = 64, vectors = ["update", "gradient", "momentum"] }
    gram = { every = 16 }        # Gram diagonal dominance of the momenta (RMNP eqs. 5-6)
    step_size = true             # s_t on every logged row (T F.2)
    spectrum = { n_probes = 4 }  # SLQ Hessian density at the end of the run

An entry with settings may be a table, ``true`` (all defaults) or ``false`` (off); an
entry without settings is ``true`` or ``false``. Observation steps (``every``) must be
multiples of the study's logging ``every`` so that every observation lands on a CSV row.
Diagnostics observe only: they are not part of a run's identity (``run_id``).
"""

from __future__ import annotations

from typing import Any

from ..settings import ConfigError, Setting, type_name
from .protocol import Diagnostic
from .registry import DIAGNOSTICS


class DiagnosticsSpec:
    """Which diagnostics a run records (all off by default) and their settings records:
    ``DiagnosticsSpec(dom_bulk=DomBulkSpec(), step_size=True)``; an entry reads as an
    attribute (``spec.dom_bulk``; None, or False for an on/off entry, when off)."""

    __slots__ = ("entries",)

    def __init__(self, **entries: Any) -> None:
        for name in entries:
            if name not in DIAGNOSTICS:
                raise ValueError(f"DiagnosticsSpec: unknown diagnostic {name!r}; allowed: {', '.join(DIAGNOSTICS)}")
        on = tuple((name, entries[name]) for name in DIAGNOSTICS if entries.get(name) not in (None, False))
        object.__setattr__(self, "entries", on)

    def __getattr__(self, name: str) -> Any:
        if name not in DIAGNOSTICS:
            raise AttributeError(name)
        default = None if DIAGNOSTICS[name].settings else False
        return dict(self.entries).get(name, default)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("DiagnosticsSpec is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DiagnosticsSpec) and self.entries == other.entries

    def __hash__(self) -> int:
        return hash(self.entries)

    def __repr__(self) -> str:
        return f"DiagnosticsSpec({', '.join(f'{k}={v!r}' for k, v in self.entries)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.entries,))

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def plugins(self) -> list[tuple[type[Diagnostic], Any]]:
        """The enabled diagnostics' classes and settings, in the order of their columns."""
        order = list(DIAGNOSTICS)
        ranked = sorted(self.entries, key=lambda entry: (DIAGNOSTICS[entry[0]].column_order, order.index(entry[0])))
        return [(DIAGNOSTICS[name], spec) for name, spec in ranked]

    def unbatchable(self) -> list[str]:
        """Names of the enabled diagnostics that cannot observe a seed batch."""
        return [name for name, _ in self.entries if not DIAGNOSTICS[name].batchable]


def _rebuild(entries: tuple[tuple[str, Any], ...]) -> DiagnosticsSpec:
    return DiagnosticsSpec(**dict(entries))


def parse_diagnostics(value: Any, *, log_every: int) -> DiagnosticsSpec:
    """Validate the ``[diagnostics]`` table; ``log_every`` is the study's ``every``."""
    if not isinstance(value, dict):
        raise ConfigError(f"diagnostics: expected a table, got {type_name(value)} {value!r}")
    for key in value:
        if key not in DIAGNOSTICS:
            raise ConfigError(f"diagnostics.{key}: unknown key; allowed: {', '.join(DIAGNOSTICS)}")
    entries = {name: _entry(DIAGNOSTICS[name], value[name], log_every) for name in DIAGNOSTICS if name in value}
    return DiagnosticsSpec(**entries)


def _entry(plugin: type[Diagnostic], value: Any, log_every: int) -> Any:
    """The settings record of one entry (``True`` for an on/off entry that is on), or
    None when it is off."""
    path = f"diagnostics.{plugin.name}"
    if not plugin.settings:
        return Setting(plugin.name, bool, False, "true or false").coerce(value, path) or None
    if isinstance(value, bool):
        value = {} if value else None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a table, true or false, got {type_name(value)} {value!r}")
    allowed = [s.name for s in plugin.settings]
    for key in value:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}: unknown key; allowed: {', '.join(allowed)}")
    spec = plugin.spec(**{s.name: s.coerce(value[s.name], f"{path}.{s.name}") for s in plugin.settings if s.name in value})
    plugin.check(spec, path, log_every=log_every)
    return spec
