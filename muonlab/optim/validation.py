"""One-line ``ValueError`` checks for optimizer hyperparameters (SPEC section 1).

Messages follow ``optimizer 'trasmuon': c_min must be in (0, 1], got 0``.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any, NoReturn

import torch

NS_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def fail(optimizer: str, field: str, allowed: str, value: Any) -> NoReturn:
    raise ValueError(f"optimizer '{optimizer}': {field} must be {allowed}, got {value!r}")


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def check_interval(
    optimizer: str,
    field: str,
    value: Any,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
    hi_open: bool = False,
) -> None:
    """``value`` is a real number in the interval ``lo..hi`` (open or closed ends)."""
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    lo_txt = "-inf" if lo == float("-inf") else f"{lo:g}"
    hi_txt = "inf" if hi == float("inf") else f"{hi:g}"
    allowed = f"in {left}{lo_txt}, {hi_txt}{right}"
    if not _is_real(value):
        fail(optimizer, field, f"a real number {allowed}", value)
    ok_lo = value > lo if lo_open else value >= lo
    ok_hi = value < hi if hi_open else value <= hi
    if not (ok_lo and ok_hi):
        fail(optimizer, field, allowed, value)


def check_positive(optimizer: str, field: str, value: Any) -> None:
    check_interval(optimizer, field, value, 0.0, float("inf"), lo_open=True, hi_open=True)


def check_nonnegative(optimizer: str, field: str, value: Any) -> None:
    check_interval(optimizer, field, value, 0.0, float("inf"), hi_open=True)


def check_coefficient(optimizer: str, field: str, value: Any) -> None:
    """An EMA / momentum coefficient in [0, 1)."""
    check_interval(optimizer, field, value, 0.0, 1.0, hi_open=True)


def check_int(optimizer: str, field: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        fail(optimizer, field, f"an integer >= {minimum}", value)


def check_bool(optimizer: str, field: str, value: Any) -> None:
    if not isinstance(value, bool):
        fail(optimizer, field, "True or False", value)


def check_choice(optimizer: str, field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        fail(optimizer, field, f"one of {choices}", value)


def check_hook(optimizer: str, value: Callable[..., None] | None) -> None:
    if value is not None and not callable(value):
        fail(optimizer, "momentum_hook", "None or a callable hook(param, M, step)", value)


def ns_dtype_of(optimizer: str, value: Any) -> torch.dtype:
    """Accept ``torch.float32`` / ``torch.bfloat16`` or their names (TOML studies give strings)."""
    if isinstance(value, str) and value in NS_DTYPES:
        return NS_DTYPES[value]
    if value in NS_DTYPES.values():
        return value
    fail(optimizer, "ns_dtype", "torch.float32 or torch.bfloat16 (or 'float32', 'bfloat16')", value)
