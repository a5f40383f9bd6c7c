"""The evidence table (SPEC 11) and the README's generated block, on a tiny study with
every control: contrasts, an independent recomputation of the burst effect, verdict
words and the round trip of the README's verdict lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from muonlab.analysis import load_study
from muonlab.analysis.evidence import BEGIN, END, evidence, main, rewrite_block, to_markdown, verdict
from muonlab.analysis.readme_block import parse_verdicts, readme_block
from muonlab.cli import main as muonlab

TINY = """
seeds = 4
steps = 60
every = 2
batch_seeds = true

[problem]
name = "awbt"
d = 8
kappa = 100.0
fix_V = [true, false]

[injection]
K_out = 20
s = 2

[controls]
baseline = "NOCLIP"
no_injection = true
matched_step = true

[[optimizers]]
name = "trasmuon-noclip"
label = "NOCLIP"
lr = 0.01

[[optimizers]]
name = "trasmuon-clip-only"
label = "Clip"
lr = 0.01
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("evidence")
    (root / "s.toml").write_text(TINY)
    assert muonlab(["run", str(root / "s.toml"), "--out", str(root / "out"), "--no-progress"]) == 0
    return root / "out"


def test_verdict_words():
    assert verdict("ratio", 0.5, 0.9, 0.01) == "lower"
    assert verdict("ratio", 1.1, 2.0, 0.01) == "higher"
    assert verdict("ratio", 0.5, 1.2, 0.01) == "no clear difference"
    assert verdict("ratio", 0.5, 0.9, 0.2) == "no clear difference"
    assert verdict("difference", -3.0, -1.0, 0.001) == "lower"


def test_contrasts_and_burst_effect(tiny):
    study = load_study(tiny)
    table = evidence(study, metrics=["final_loss", "spike_count@1.5"])
    loss = table[table["metric"] == "final_loss"]
    for fix_v in (True, False):
        rows = loss[loss["fix_V"] == fix_v]
        assert list(rows["contrast"]) == ["with injection", "no injection", "burst effect", "vs matched step"]
        assert set(rows["n"]) == {4}
    # Counts have no burst-effect ratio and no count without injection.
    counts = table[table["metric"] == "spike_count@1.5"]
    assert set(counts["contrast"]) <= {"with injection", "vs matched step"}
    # The burst effect, recomputed from summary.csv by hand.
    s = study.summary[study.summary["fix_V"]]
    value = {(o, c): s[(s["optimizer"] == o) & (s["control"] == c)].set_index("seed")["final_loss"]
             for o in ("NOCLIP", "Clip") for c in ("none", "no_injection")}
    per_seed = (value["Clip", "none"] / value["Clip", "no_injection"]) / (value["NOCLIP", "none"] / value["NOCLIP", "no_injection"])
    burst = loss[(loss["fix_V"]) & (loss["contrast"] == "burst effect")]
    assert burst["effect"].iloc[0] == pytest.approx(float(np.median(per_seed)), rel=1e-12)


def test_readme_block_round_trip(tiny, tmp_path, capsys):
    study = load_study(tiny)
    table = evidence(study)
    block = readme_block(study, table, to_markdown(table, study.swept_settings))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n")
    assert main([str(tiny), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    stated = parse_verdicts(text)
    expected = {(f"fix_V={r['fix_V']}", r["treatment"], r["metric"], r["contrast"]): r["verdict"]
                for r in table.to_dict("records")}
    assert stated == expected and len(stated) == len(table)
    assert parse_verdicts(block) == expected
    assert (tiny / "evidence.md").is_file() and "[95% CI]" in capsys.readouterr().out
    with pytest.raises(Exception, match="no <!-- evidence:begin -->"):
        rewrite_block("no markers", block)


def test_readme_check_compares_verdicts_not_digits(tiny, tmp_path, capsys):
    """``--check`` passes on the README written from the same run and fails, naming the
    contrast, once one stated verdict differs."""
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEGIN}\n{END}\n")
    assert main([str(tiny), "--readme", str(readme)]) == 0
    assert main([str(tiny), "--check", str(readme)]) == 0
    text = readme.read_text()
    first = next(iter(parse_verdicts(text).values()))
    other = "higher" if first != "higher" else "lower"
    readme.write_text(text.replace(f"**{first}**", f"**{other}**", 1))
    capsys.readouterr()
    assert main([str(tiny), "--check", str(readme)]) == 1
    assert f"README says {other}, this run {first}" in capsys.readouterr().err
