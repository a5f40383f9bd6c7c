"""Per-step random streams keyed by (seed, step, stream).

Stochastic parts of the toy problems (injection columns, gradient noise, mini-batches)
are drawn from a fresh generator per step rather than from one advancing generator, so
what happens at step t depends only on (seed, t): every optimizer in a study sees the
same events (common random numbers, SPEC 2.2) and a resumed run sees the same draws.
The stream tag keeps the uses independent of one another.
"""

from __future__ import annotations

import numpy as np

_STREAM_IDS = {"injection": 0, "injection_fixed": 1, "river_noise": 2, "digits_batch": 3}


def step_rng(seed: int, step: int, stream: str) -> np.random.Generator:
    """A numpy Generator seeded by ``SeedSequence([seed, step, stream_id])``."""
    return np.random.default_rng(np.random.SeedSequence([seed, step, _STREAM_IDS[stream]]))
