"""Shape-dependent step scales of the Muon family (SPEC-optim muon, rmnp, amuse)."""

from __future__ import annotations

import math

ADJUST_LR = ("original", "match_rms_adamw")


def muon_scale(m: int, n: int, adjust_lr: str = "original") -> float:
    """``sqrt(max(1, m/n))`` ("original", Keller Jordan) or ``0.2 sqrt(max(m, n))``
    ("match_rms_adamw", Moonshot) for an ``(m, n)`` matrix."""
    if adjust_lr == "original":
        return math.sqrt(max(1.0, m / n))
    if adjust_lr == "match_rms_adamw":
        return 0.2 * math.sqrt(max(m, n))
    raise ValueError(f"adjust_lr must be one of {ADJUST_LR}, got {adjust_lr!r}")
