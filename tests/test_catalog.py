"""Shipped studies by name (issue 17): ``muonlab studies``, ``run`` / ``validate`` by
name, ``init`` copies without overwriting; every shipped study validates."""

from __future__ import annotations

from pathlib import Path

import pytest

from muonlab import catalog
from muonlab.cli import main
from muonlab.runner import load_study_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "studies").glob("*.toml"))


def test_every_repository_study_is_shipped_and_validates() -> None:
    entries = catalog.entries("studies")
    assert sorted(entries) == SHIPPED
    for entry in entries.values():
        assert entry.description and "\n" not in entry.description
        load_study_config(entry.path)


def test_studies_lists_names_and_descriptions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["studies"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[: len(SHIPPED)]] == SHIPPED
    first = (ROOT / "studies" / "awbt_ablation.toml").read_text().splitlines()[0].lstrip("# ")
    assert any(line.startswith("awbt_ablation ") and line.endswith(first) for line in lines)


def test_validate_by_name_and_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "awbt_quick"]) == 0
    assert "awbt_quick: ok: 8 runs" in capsys.readouterr().out
    assert main(["validate", "no_such_study"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "shipped: awbt_ablation" in err


def test_a_path_wins_over_a_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "awbt_quick").write_text("not toml [")
    assert catalog.resolve("awbt_quick") == Path("awbt_quick")
    assert catalog.resolve("missing.toml") == Path("missing.toml")


def test_init_copies_and_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "river_valley", str(tmp_path)]) == 0
    copied = tmp_path / "river_valley.toml"
    assert copied.read_bytes() == (ROOT / "studies" / "river_valley.toml").read_bytes()
    copied.write_text("edited")
    assert main(["init", "river_valley", str(copied)]) == 2
    assert copied.read_text() == "edited"
    assert main(["init", "nope", str(tmp_path)]) == 2
    assert main(["init", "river_valley", str(tmp_path / "no" / "dir.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("muonlab: error: ") for line in err)
