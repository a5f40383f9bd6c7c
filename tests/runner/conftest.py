"""Tiny studies shared by the runner tests (a few steps, small d, 2 seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest

TINY = """
seeds = 2
steps = 60
every = 3

[problem]
name = "awbt"
d = 8
kappa = 100.0
fix_V = [true, false]

[injection]
K_out = 20
s = 2

[[optimizers]]
name = "normuon"
rms_scale = 1.0
lr = 0.01

[[optimizers]]
name = "trasmuon"
lr = 0.01
"""


@pytest.fixture
def tiny_study(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
