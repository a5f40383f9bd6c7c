"""Fixtures of the claims tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.claims.synthetic import STUDY


@pytest.fixture
def studies_dir(tmp_path: Path) -> Path:
    path = tmp_path / "studies"
    path.mkdir()
    (path / "toy.toml").write_text(STUDY, encoding="utf-8")
    return path

