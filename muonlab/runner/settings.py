"""Typed study settings: one declaration per key (type, default, allowed range).

The same :class:`Setting` objects validate problem settings, injection settings and
spike-rule overrides in a study file, and are what ``muonlab list`` prints, so the
documentation of a key and its check can never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A user error in a study file or command line: one line naming the key path."""


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
    check: Callable[[Any], bool] = lambda value: True
    help: str = ""

    def coerce(self, value: Any, path: str) -> Any:
        """``value`` converted to ``kind`` (an integer is a valid float; a boolean is
        never a number; inf and NaN never are settings), or :class:`ConfigError` naming
        ``path`` and the allowed values."""
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        ok_type = isinstance(value, self.kind) and not (self.kind is not bool and isinstance(value, bool))
        if not ok_type:
            raise ConfigError(
                f"{path}: expected a {self.kind.__name__} {self.allowed}, got {type_name(value)} {value!r}"
            )
        if self.kind is float and not math.isfinite(value):
            raise ConfigError(f"{path}: must be a finite number {self.allowed}, got {value!r}")
        if not self.check(value):
            raise ConfigError(f"{path}: must be {self.allowed}, got {value!r}")
        return value


def int_at_least(name: str, minimum: int, default: Any, help: str = "") -> Setting:
    return Setting(name, int, default, f">= {minimum}", lambda v: v >= minimum, help)


def float_at_least(name: str, minimum: float, default: Any, help: str = "", *, strict: bool = False) -> Setting:
    if strict:
        return Setting(name, float, default, f"> {minimum:g}", lambda v: v > minimum, help)
    return Setting(name, float, default, f">= {minimum:g}", lambda v: v >= minimum, help)


def choice(name: str, choices: tuple[str, ...], default: Any, help: str = "") -> Setting:
    return Setting(name, str, default, f"one of {', '.join(choices)}", lambda v: v in choices, help)


def boolean(name: str, default: Any, help: str = "") -> Setting:
    return Setting(name, bool, default, "true or false", help=help)
