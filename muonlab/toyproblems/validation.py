"""One-line ``ValueError`` checks for problem constructors (SPEC 7: name the field and
the allowed values)."""

from __future__ import annotations

import math
from collections.abc import Collection


def check_int(owner: str, name: str, value: object, minimum: int) -> int:
    """``value`` as an int ``>= minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{owner}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_real(owner: str, name: str, value: object, *, minimum: float | None = None,
               inclusive: bool = True) -> float:
    """``value`` as a finite float, ``>= minimum`` (``> minimum`` when not inclusive)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and minimum is not None:
        ok = value >= minimum if inclusive else value > minimum
    if not ok:
        bound = "" if minimum is None else f" {'>=' if inclusive else '>'} {minimum:g}"
        raise ValueError(f"{owner}: {name} must be a finite number{bound}, got {value!r}")
    return float(value)


def check_choice(owner: str, name: str, value: object, allowed: Collection[str]) -> str:
    """``value`` as one of the ``allowed`` strings."""
    if value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {sorted(allowed)}, got {value!r}")
    return value  # type: ignore[return-value]
