"""ROI pool (T Table 3), the blake2b patch rule, the event schedule and per-step streams."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from muonlab.pinn import ROI_PATCHES, is_roi_event, roi_event_steps, roi_patch_for_step, step_rng

REPO = Path(__file__).resolve().parents[2]

# T Table 3, transcribed: corners, edges, interior; rectangles [x0, x1] x [y0, y1].
TABLE_3 = [
    (0.00, 0.03, 0.00, 0.03), (0.97, 1.00, 0.00, 0.03), (0.00, 0.03, 0.97, 1.00), (0.97, 1.00, 0.97, 1.00),
    (0.48, 0.53, 0.00, 0.05), (0.48, 0.53, 0.95, 1.00), (0.00, 0.05, 0.48, 0.53), (0.95, 1.00, 0.48, 0.53),
    (0.20, 0.25, 0.20, 0.25), (0.45, 0.50, 0.10, 0.15), (0.10, 0.15, 0.55, 0.60), (0.60, 0.65, 0.60, 0.65),
]

_PROBE = """
import json
from muonlab.pinn import roi_patch_for_step, step_rng
print(json.dumps({
    "patches": [roi_patch_for_step(s, t) for s in range(3) for t in range(1000, 4000, 20)],
    "draws": [step_rng(s, t, st).random(3).tolist() for s in range(2) for t in (1, 1000)
              for st in ("interior", "boundary", "nonroi_eval")],
}))
"""


def test_roi_pool_is_table_3_exactly():
    assert ROI_PATCHES == tuple(TABLE_3)
    assert all(isinstance(p, tuple) and len(p) == 4 for p in ROI_PATCHES)


def test_roi_patch_for_step_hand_computed_blake2b():
    # blake2b(b"0:1000", digest_size=8) = 0x4673669dab5d9f42 = 5076514032347619138; mod 12 = 6.
    assert hashlib.blake2b(b"0:1000", digest_size=8).hexdigest() == "4673669dab5d9f42"
    assert 5076514032347619138 % 12 == 6
    assert roi_patch_for_step(0, 1000) == 6
    assert roi_patch_for_step(7, 3980) == 10
    assert roi_patch_for_step(123, 1020) == 3
    assert roi_patch_for_step(np.int64(123), np.int64(1020)) == 3
    for seed, step in [(0, 1), (5, 2000), (2**40, 7)]:
        digest = hashlib.blake2b(f"{seed}:{step}".encode(), digest_size=8).digest()
        assert roi_patch_for_step(seed, step) == int.from_bytes(digest, "big") % 12


def test_roi_patches_cover_the_pool_evenly():
    patches = [roi_patch_for_step(s, t) for s in range(8) for t in roi_event_steps(steps=4000)]
    counts = np.bincount(patches, minlength=12)
    expected = 8 * 150 / 12
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 40  # 11 dof: p ~ 3e-5; a biased rule (e.g. mod of a small int) fails


def test_patch_rule_and_streams_stable_across_processes_and_hash_seeds():
    outputs = []
    for hash_seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0]["patches"] == [roi_patch_for_step(s, t) for s in range(3) for t in range(1000, 4000, 20)]
    here = [step_rng(s, t, st).random(3).tolist() for s in range(2) for t in (1, 1000)
            for st in ("interior", "boundary", "nonroi_eval")]
    assert outputs[0]["draws"] == here


def test_event_schedule_has_150_events():
    events = roi_event_steps(steps=4000, t0=1000, K_out=20)
    assert len(events) == 150 and events[0] == 1000 and events[-1] == 3980
    flagged = [t for t in range(1, 4001) if is_roi_event(t, t0=1000, K_out=20, steps=4000)]
    assert flagged == events
    assert is_roi_event(4000) and not is_roi_event(4000, steps=4000)  # last step: no horizon
    assert not is_roi_event(999) and not is_roi_event(1010) and is_roi_event(1020)


def test_streams_are_distinct_and_reproducible():
    a = step_rng(0, 5, "interior").random(4)
    assert np.array_equal(a, step_rng(0, 5, "interior").random(4))
    for other in (step_rng(0, 5, "boundary"), step_rng(0, 6, "interior"), step_rng(1, 5, "interior")):
        assert not np.array_equal(a, other.random(4))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: roi_patch_for_step(True, 1), "seed must be an integer"),
        (lambda: roi_patch_for_step(0, 1.0), "step must be an integer"),
        (lambda: step_rng(0, 1, "eval"), "stream must be one of"),
        (lambda: is_roi_event(10, K_out=0), "K_out must be an integer >= 1"),
        (lambda: roi_event_steps(steps=10, t0=0), "t0 must be an integer >= 1"),
    ],
)
def test_invalid_inputs_raise(call, match):
    with pytest.raises(ValueError, match=match):
        call()
