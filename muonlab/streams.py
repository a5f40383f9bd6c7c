"""Per-step random streams keyed by ``(seed, step, stream)`` (SPEC 2.2 and 3).

Everything random that happens *during* a run (injection columns, gradient noise,
mini-batches, PINN collocation points) is drawn from a fresh generator per step rather
than from one advancing generator, so what happens at step t depends only on
``(seed, t, stream)``: every optimizer of a study sees the same events and points
(common random numbers) and a resumed run sees the same draws, in any process. The key
goes through blake2b, never Python's salted ``hash``; the stream tag keeps uses apart.
"""

from __future__ import annotations

import hashlib
import numbers

import numpy as np

STREAMS: tuple[str, ...] = (
    "interior", "boundary", "nonroi_eval",                         # PINN (SPEC 3)
    "injection", "injection_fixed", "river_noise", "digits_batch",  # toy problems
    "gpt_train", "gpt_valid",                                       # transformer (SPEC 12)
)


def as_int(name: str, value: object) -> int:
    """``value`` as a Python int; bools are refused (``True`` would hash as "True", not 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def blake2b_int(text: str, digest_size: int) -> int:
    """The big-endian integer of ``blake2b(text.encode(), digest_size=digest_size)``."""
    digest = hashlib.blake2b(text.encode(), digest_size=digest_size).digest()
    return int.from_bytes(digest, "big")


def step_rng(seed: int, step: int, stream: str) -> np.random.Generator:
    """Generator for one random ``stream`` of one step, a function of (seed, step, stream).

    The 128-bit blake2b digest of ``f"{seed}:{step}:{stream}"`` feeds numpy's SeedSequence
    (torch's CPU generator would keep only 32 bits of it); drawing with numpy on the host
    also makes the draws identical on CPU and CUDA.
    """
    seed, step = as_int("seed", seed), as_int("step", step)
    if stream not in STREAMS:
        raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
    return np.random.default_rng(np.random.SeedSequence(blake2b_int(f"{seed}:{step}:{stream}", 16)))
