"""ROI patch pool and ROI event schedule (SPEC 3, T Appendix F).

Everything random in the PINN protocol is a function of ``(seed, step, stream)`` only,
through blake2b (never Python's salted ``hash``), so every optimizer of a study sees the
same ROI events and collocation points (common random numbers), in any process.
"""

from __future__ import annotations

from muonlab.streams import as_int as _as_int
from muonlab.streams import blake2b_int as _blake2b_int

Patch = tuple[float, float, float, float]

# T Table 3, rectangles (x0, x1, y0, y1): 4 corners, 4 edge midpoints, 4 interior.
ROI_PATCHES: tuple[Patch, ...] = (
    (0.00, 0.03, 0.00, 0.03),
    (0.97, 1.00, 0.00, 0.03),
    (0.00, 0.03, 0.97, 1.00),
    (0.97, 1.00, 0.97, 1.00),
    (0.48, 0.53, 0.00, 0.05),
    (0.48, 0.53, 0.95, 1.00),
    (0.00, 0.05, 0.48, 0.53),
    (0.95, 1.00, 0.48, 0.53),
    (0.20, 0.25, 0.20, 0.25),
    (0.45, 0.50, 0.10, 0.15),
    (0.10, 0.15, 0.55, 0.60),
    (0.60, 0.65, 0.60, 0.65),
)

def roi_patch_for_step(seed: int, step: int) -> int:
    """Index into ``ROI_PATCHES`` of the ROI event at ``step`` (SPEC 3 ``step_hash`` rule).

    The first 8 bytes (big-endian) of ``blake2b(f"{seed}:{step}", digest_size=8)`` mod 12.
    """
    seed, step = _as_int("seed", seed), _as_int("step", step)
    return _blake2b_int(f"{seed}:{step}", 8) % len(ROI_PATCHES)


def _check_schedule(t0: int, K_out: int) -> None:
    if _as_int("t0", t0) < 1:
        raise ValueError(f"t0 must be an integer >= 1, got {t0!r}")
    if _as_int("K_out", K_out) < 1:
        raise ValueError(f"K_out must be an integer >= 1, got {K_out!r}")


def is_roi_event(step: int, *, t0: int = 1000, K_out: int = 20, steps: int | None = None) -> bool:
    """Whether ``step`` is an ROI event: ``step >= t0`` and ``(step - t0) % K_out == 0``.

    With ``steps`` (the run length) the last step is excluded as well (``step < steps``):
    an event there has no later step to observe its effect, and excluding it gives the
    150 events 1000, 1020, ..., 3980 of the 4000-step protocol (SPEC 3-4).
    """
    step = _as_int("step", step)
    _check_schedule(t0, K_out)
    if steps is not None and step >= steps:
        return False
    return step >= t0 and (step - t0) % K_out == 0


def roi_event_steps(*, steps: int, t0: int = 1000, K_out: int = 20) -> list[int]:
    """All ROI event steps of a ``steps``-long run, in the sense of ``is_roi_event``."""
    _check_schedule(t0, K_out)
    return list(range(t0, steps, K_out))
