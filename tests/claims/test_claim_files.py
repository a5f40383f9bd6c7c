"""Claim files: the bad ones get one line naming the key and exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from muonlab.claims import load_claims
from muonlab.cli import main
from tests.claims.synthetic import BASE_CLAIM, toml_text

BAD = [
    ({"study": "nope.toml"}, "study: unknown study 'nope.toml'; allowed: files in"),
    ({"treatment": "Z"}, "treatment: unknown label 'Z' in toy.toml; allowed: A, B"),
    ({"control": ["B", "Q"]}, "control: unknown label 'Q' in toy.toml; allowed: A, B"),
    ({"metric": "final_los"}, "metric: unknown metric 'final_los' for study 'toy'; allowed: a summary column"),
    ({"metric": "steps.median.r_dom"}, "metric: unknown metric 'steps.median.r_dom'"),  # no dom_bulk diagnostics
    ({"direction": "down"}, "direction: expected one of lower, higher; got 'down'"),
    ({"kind": "bayes"}, "kind: expected one of paired, equivalence, noninferiority, interaction, one_sample, cost"),
    ({"kind": "equivalence"}, "margin: missing (required for kind equivalence)"),
    ({"where": {"fix_V": 3}}, "where.fix_V: fix_V = 3 is not in the study's grid; allowed: True, False"),
    ({"where": {"kappa": 10.0}}, "where.kappa: kappa = 10.0 is not in the study's grid; allowed: 10000.0"),
    ({"where": {"speed": 1}}, "where.speed: unknown problem setting 'speed'; allowed: d, kappa"),
    ({"min_effect": -0.1}, "min_effect: expected a number >= 0, got -0.1"),
    ({"colour": "red"}, "colour: unknown key; allowed: id, source"),
    ({"controls": ["ghost"]}, "controls: unknown claim id 'ghost'"),
]


def write_claims(tmp_path: Path, **changes) -> Path:
    claims = tmp_path / "claims"
    claims.mkdir(exist_ok=True)
    (claims / "toy.toml").write_text(toml_text({**BASE_CLAIM, **changes}), encoding="utf-8")
    return claims


@pytest.mark.parametrize(("changes", "message"), BAD)
def test_bad_claim_file_exits_2_with_one_line(tmp_path, studies_dir, capsys, changes, message):
    claims = write_claims(tmp_path, **changes)
    out = tmp_path / "out"
    code = main(["claims", "--claims-dir", str(claims), "--studies-dir", str(studies_dir), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("muonlab: error: ") and "Traceback" not in err
    assert message in err
    assert not out.exists()


def test_missing_required_key(tmp_path, studies_dir):
    claims = tmp_path / "claims"
    claims.mkdir()
    (claims / "c.toml").write_text(toml_text({k: v for k, v in BASE_CLAIM.items() if k != "metric"}))
    with pytest.raises(ValueError, match=r"c.toml: metric: missing \(required\)"):
        load_claims(claims, studies_dir)


def test_duplicate_ids_and_unknown_only(tmp_path, studies_dir, capsys):
    claims = write_claims(tmp_path)
    (claims / "again.toml").write_text(toml_text(BASE_CLAIM))
    assert main(["claims", "--claims-dir", str(claims), "--studies-dir", str(studies_dir)]) == 2
    assert "id: 'toy-claim' is also the id of" in capsys.readouterr().err
    (claims / "again.toml").unlink()
    assert main(["claims", "--claims-dir", str(claims), "--studies-dir", str(studies_dir), "--only", "x"]) == 2
    assert "--only: unknown claim id 'x'; allowed: toy-claim" in capsys.readouterr().err


def test_repository_claims_are_valid():
    claims = load_claims(Path("claims"), Path("studies"))
    assert len(claims) >= 12
    sources = " ".join(c.source for c in claims)
    for paper in ("TrasMuon", "AMUSE", "RMNP", "Distance-Aware"):
        assert paper in sources
