"""Declarative settings: one generic checker for every key a user can set.

A key is a :class:`Setting` (type, default, allowed range as text and as a predicate,
help). Problems declare theirs once, as a frozen dataclass subclassing :class:`Schema`
whose fields carry a rule (:func:`at_least`, :func:`one_of`, :func:`flag`,
:func:`finite`, :func:`rule`)::

    @dataclass(frozen=True)
    class AWBTSettings(Schema):
        owner: ClassVar[str] = "AWBT"
        d: int = at_least(2, 64, "W is d x d")

The same declaration gives the problem constructor its defaults and checks
(``AWBTSettings(d=1)`` raises ``AWBT.d: must be >= 2, got 1``), study validation its
per-key check (``problem.d: ...``) and ``muonlab list`` its table, so the three cannot
disagree. Dataclasses rather than pydantic: the schemas are flat tables of scalars whose
errors must be one line in the project's own wording and whose types must follow TOML's
exactly; a model library would add a dependency whose coercions and messages would have
to be switched off and rewritten (docs/architecture.md, "Settings schemas").

This module imports nothing from muonlab: problems, the runner and diagnostics all use it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A user error in a study file, command line or constructor call: one line naming
    the key path and what is allowed."""


def type_name(value: Any) -> str:
    """TOML-flavoured name of a value's type, for error messages."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "table"
    return type(value).__name__


def _always(value: Any) -> bool:
    return True


@dataclass(frozen=True)
class Setting:
    """One key: its type (``int``, ``float``, ``bool`` or ``str``), default, and range.

    ``allowed`` is the human-readable range shown in errors and by ``muonlab list``;
    ``check`` tests a value already of the right type. ``default=None`` means optional.
    """

    name: str
    kind: type
    default: Any
    allowed: str
    check: Callable[[Any], bool] = _always
    help: str = ""

    def coerce(self, value: Any, path: str) -> Any:
        """``value`` converted to ``kind`` (an integer is a valid float; a boolean is
        never a number; inf and NaN never are settings), or :class:`ConfigError` naming
        ``path`` and the allowed values. Any ``numbers.Integral`` is an int and any
        ``numbers.Real`` a float (numpy scalars from Python callers)."""
        if not isinstance(value, bool):
            if self.kind is float and isinstance(value, numbers.Real):
                value = float(value)
            elif self.kind is int and isinstance(value, numbers.Integral):
                value = int(value)
        ok_type = isinstance(value, self.kind) and not (self.kind is not bool and isinstance(value, bool))
        if not ok_type:
            raise ConfigError(f"{path}: expected a {self.kind.__name__} {self.allowed}, got {type_name(value)} {value!r}")
        if self.kind is float and not math.isfinite(value):
            raise ConfigError(f"{path}: must be a finite number {self.allowed}, got {value!r}")
        if not self.check(value):
            raise ConfigError(f"{path}: must be {self.allowed}, got {value!r}")
        return value


# -- rules: (allowed text, predicate), shared by Setting factories and schema fields -----


@dataclass(frozen=True)
class Rule:
    """What a key allows, as text and as a predicate."""

    allowed: str
    check: Callable[[Any], bool] = _always


def _at_least_rule(minimum: float, strict: bool) -> Rule:
    if strict:
        return Rule(f"> {minimum:g}", lambda v: v > minimum)
    return Rule(f">= {minimum:g}", lambda v: v >= minimum)


def _one_of_rule(choices: Iterable[str]) -> Rule:
    choices = tuple(choices)
    return Rule(f"one of {', '.join(choices)}", lambda v: v in choices)


BOOLEAN = Rule("true or false")
FINITE = Rule("a finite number")


def int_at_least(name: str, minimum: int, default: Any, help: str = "") -> Setting:
    rule = _at_least_rule(minimum, False)
    return Setting(name, int, default, rule.allowed, rule.check, help)


def float_at_least(name: str, minimum: float, default: Any, help: str = "", *, strict: bool = False) -> Setting:
    rule = _at_least_rule(minimum, strict)
    return Setting(name, float, default, rule.allowed, rule.check, help)


def choice(name: str, choices: tuple[str, ...], default: Any, help: str = "") -> Setting:
    rule = _one_of_rule(choices)
    return Setting(name, str, default, rule.allowed, rule.check, help)


def boolean(name: str, default: Any, help: str = "") -> Setting:
    return Setting(name, bool, default, BOOLEAN.allowed, help=help)


SEED = int_at_least("seed", 0, 0, "run seed")


# -- schema fields -----------------------------------------------------------------------


def rule(default: Any, allowed: str, check: Callable[[Any], bool] = _always, help: str = "") -> Any:
    """A schema field with its default, allowed range (text and predicate) and help; the
    type is the field's annotation."""
    return dataclasses.field(default=default, metadata={"rule": Rule(allowed, check), "help": help})


def at_least(minimum: float, default: Any, help: str = "", *, strict: bool = False) -> Any:
    """A number ``>= minimum`` (``> minimum`` when ``strict``)."""
    r = _at_least_rule(minimum, strict)
    return rule(default, r.allowed, r.check, help)


def one_of(choices: Iterable[str], default: str, help: str = "") -> Any:
    r = _one_of_rule(choices)
    return rule(default, r.allowed, r.check, help)


def flag(default: bool, help: str = "") -> Any:
    return rule(default, BOOLEAN.allowed, help=help)


def finite(default: float, help: str = "") -> Any:
    return rule(default, FINITE.allowed, help=help)


def _kind(annotation: Any) -> type:
    """``int`` of ``int`` or ``int | None``."""
    kinds = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    if len(kinds) != 1 or kinds[0] not in (int, float, bool, str):
        raise TypeError(f"schema fields are int, float, bool or str (optionally | None), got {annotation!r}")
    return kinds[0]


def settings_of(schema: type[Schema] | None) -> tuple[Setting, ...]:
    """The :class:`Setting` s of ``schema`` (none for ``None``)."""
    return () if schema is None else schema.settings()


class Schema:
    """Base of a frozen dataclass of settings (see the module docstring).

    Construction checks every field with its :class:`Setting` (an ``int`` given for a
    ``float`` becomes a float) and then :meth:`joint`, raising one-line
    :class:`ConfigError` s prefixed ``owner.``. A field whose default is ``None`` is
    optional and may stay ``None``.
    """

    owner: ClassVar[str] = "settings"

    def __post_init__(self) -> None:
        values = self.check_values({s.name: getattr(self, s.name) for s in self.settings()}, f"{self.owner}.")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def settings(cls) -> tuple[Setting, ...]:
        """The fields as :class:`Setting` s, in declaration order."""
        cached = cls.__dict__.get("_settings")
        if cached is None:
            hints = typing.get_type_hints(cls)
            cached = tuple(
                Setting(f.name, _kind(hints[f.name]), f.default, f.metadata["rule"].allowed, f.metadata["rule"].check, f.metadata["help"])
                for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            )
            cls._settings = cached  # type: ignore[attr-defined]
        return cached

    @classmethod
    def check_values(cls, values: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        """Every field of ``values`` checked (errors named ``prefix + field``), then the
        joint rule; returns the coerced values."""
        out = {}
        for s in cls.settings():
            value = values[s.name]
            out[s.name] = value if value is None and s.default is None else s.coerce(value, f"{prefix}{s.name}")
        broken = cls.joint(out)
        if broken is not None:
            raise ConfigError(f"{prefix}{broken[0]}: {broken[1]}")
        return out

    @classmethod
    def joint(cls, values: Mapping[str, Any]) -> tuple[str, str] | None:
        """A rule across fields: ``(field, message)`` when ``values`` break it."""
        return None

    @classmethod
    def from_items(cls, items: Iterable[tuple[str, Any]]) -> Schema:
        """The schema of a run's ``settings`` pairs (keys not in the schema, such as
        the runner's ``other_lr``, are the runner's and ignored here)."""
        names = {s.name for s in cls.settings()}
        return cls(**{k: v for k, v in items if k in names})

    def items(self) -> tuple[tuple[str, Any], ...]:
        """``(name, value)`` pairs in declaration order."""
        return tuple((s.name, getattr(self, s.name)) for s in self.settings())

    def kwargs(self) -> dict[str, Any]:
        """The fields as constructor keywords."""
        return dict(self.items())
