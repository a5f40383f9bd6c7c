"""Tiny real studies of every kind the standard plots distinguish, run once per session.

Each is a few seconds on one CPU thread: enough steps, seeds and swept values to give
every plot the shape it has on the full study (several panels, ``label lr=...`` sweeps,
events, diagnostics), not the size.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from muonlab.runner import parse_study, run_study

# AWB-T with injection: the README's ablation in miniature, plus an lr sweep on two
# labels so that the legend holds more than three `label lr=...` entries.
AWBT_INJECTION = """
name = "awbt_injection"
seeds = 3
steps = 120
every = 2
[problem]
name = "awbt"
d = 8
fix_V = [true, false]
[injection]
K_out = 20
[[optimizers]]
name = "normuon"
label = "NorMuon"
rms_scale = 1.0
lr = [3e-3, 1e-2]
[[optimizers]]
name = "trasmuon-noclip"
label = "TrasMuon-NOCLIP"
lr = [3e-3, 1e-2]
[[optimizers]]
name = "trasmuon-clip-only"
label = "TrasMuon-Clip-only"
lr = 3e-3
[[optimizers]]
name = "trasmuon"
label = "TrasMuon-Clip-sf"
lr = 3e-3
"""

# AWB-T without [injection]: TrasMuon still clips (c_used_min < 1), but there is no event.
AWBT_PLAIN = """
name = "awbt_plain"
seeds = 2
steps = 60
every = 2
[problem]
name = "awbt"
d = 8
[[optimizers]]
name = "muon"
lr = 0.01
[[optimizers]]
name = "trasmuon"
lr = 0.01
"""

# River valley with every diagnostics plot (dom_bulk, gram, spectrum) and seven optimizers,
# as studies/river_valley_dombulk.toml and studies/digits_dombulk.toml have.
RIVER_VALLEY = """
name = "river_valley_dombulk"
seeds = 2
steps = 24
every = 4
[problem]
name = "river_valley"
m = 4
n = 4
rotated = true
noise = "gaussian"
noise_std = 0.1
[diagnostics]
dom_bulk = { k = 3, every = 8, refresh = 8, vectors = ["update", "gradient", "momentum"] }
gram = { every = 8 }
spectrum = { n_probes = 2, n_steps = 8, grid = 80 }
[[optimizers]]
name = "sgd"
[[optimizers]]
name = "adamw"
[[optimizers]]
name = "muon"
[[optimizers]]
name = "sf-muon"
[[optimizers]]
name = "amuse"
[[optimizers]]
name = "trasmuon"
[[optimizers]]
name = "rmnp"
"""

# The digits MLP with the Gram diagnostic (RMNP Figs. 3-4).
DIGITS = """
name = "digits_dombulk"
seeds = 2
steps = 30
every = 5
[problem]
name = "digits"
hidden = 8
batch_size = 32
[diagnostics]
gram = { every = 10 }
[[optimizers]]
name = "sgd"
lr = 0.1
[[optimizers]]
name = "muon"
lr = 0.1
[[optimizers]]
name = "trasmuon"
lr = 0.01
[[optimizers]]
name = "rmnp"
lr = 0.1
"""

# A Helmholtz PINN lr sweep (T Fig. 8) with the ROI protocol (t0, K_out) at toy size.
PINN_SWEEP = """
name = "pinn_lr_sweep"
seeds = 2
steps = 30
every = 1
[problem]
name = "helmholtz"
N_r = 32
N_b = 16
width = 8
t0 = 16
K_out = 4
eval_every = 5
eval_grid = 8
roi_grid = 4
N_nonroi = 32
[[optimizers]]
name = "muon"
lr = [0.005, 0.01, 0.02]
[[optimizers]]
name = "trasmuon"
lr = [3.125e-4, 1.25e-3, 5e-3]
[[optimizers]]
name = "normuon"
rms_scale = 1.0
lr = [2.5e-4, 1e-3, 4e-3]
"""

STUDIES = {
    "awbt_injection": AWBT_INJECTION,
    "awbt_plain": AWBT_PLAIN,
    "river_valley": RIVER_VALLEY,
    "digits": DIGITS,
    "pinn_sweep": PINN_SWEEP,
}


@pytest.fixture(scope="session")
def study_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``kind -> study directory`` of every study in :data:`STUDIES` (run on first use)."""
    root = tmp_path_factory.mktemp("studies")
    dirs = {}
    for kind, text in STUDIES.items():
        out = root / kind
        run_study(parse_study(text, default_name=kind), out, progress=False)
        dirs[kind] = out
    return dirs
