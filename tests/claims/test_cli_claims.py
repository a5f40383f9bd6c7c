"""`muonlab claims` end to end on a tiny study: runs it, writes the report, and a second
call reuses the finished runs."""

from __future__ import annotations

import pandas as pd

from muonlab.cli import main
from tests.claims.synthetic import BASE_CLAIM, toml_text

TINY = """
name = "tiny"
seeds = 4
steps = 40
batch_seeds = true
[problem]
name = "awbt"
d = 8
[[optimizers]]
name = "normuon"
label = "A"
rms_scale = 1.0
lr = 3e-3
[[optimizers]]
name = "trasmuon-noclip"
label = "B"
lr = 3e-3
"""


def test_claims_command_runs_and_resumes(tmp_path, capsys):
    studies, claims, out = tmp_path / "studies", tmp_path / "claims", tmp_path / "out"
    studies.mkdir()
    claims.mkdir()
    (studies / "tiny.toml").write_text(TINY)
    (claims / "c.toml").write_text(toml_text({**BASE_CLAIM, "study": "tiny.toml", "quick_study": "tiny.toml",
                                              "where": {}}))
    args = ["claims", "--quick", "--claims-dir", str(claims), "--studies-dir", str(studies), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "toy-claim: " in printed
    table = pd.read_csv(out / "claims.csv")
    assert list(table["id"]) == ["toy-claim"] and table["n"].iloc[0] == 4
    assert {"claims.md", "claims.csv", "report.html", "timing.json"} <= {p.name for p in out.iterdir()}
    runs = out / "studies" / "tiny" / "runs"
    stamps = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    assert len(stamps) == 8
    assert main(args) == 0  # resumed: every run already finished, none written again
    assert {p.name: p.stat().st_mtime_ns for p in runs.iterdir()} == stamps


def test_there_is_a_claims_notebook():
    # Kept here rather than in tests/test_notebooks.py's family list (edited by other
    # branches); that file executes every notebook, this one included.
    from pathlib import Path

    assert Path("notebooks/07_claims.ipynb").is_file()
