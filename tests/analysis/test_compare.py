"""Paired comparisons (SPEC 11): Holm, the paired statistics against scipy and exact
reference values, grouping and byte-identical output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from muonlab.analysis import load
from muonlab.analysis.compare import compare, holm, paired_stats, write_compare
from muonlab.cli import main


def test_holm_textbook_case():
    # m = 4, sorted p = .005, .01, .03, .04 -> 4*.005 = .02, 3*.01 = .03, 2*.03 = .06,
    # 1*.04 = .04 raised to the running max .06 (Holm 1979, step-down).
    p = [0.01, 0.04, 0.03, 0.005]
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02], rtol=0, atol=1e-15)


def test_holm_caps_at_one_and_keeps_nan():
    out = holm([0.5, np.nan, 0.6])
    assert np.isnan(out[1])
    np.testing.assert_array_equal(out[[0, 2]], [1.0, 1.0])


RNG = np.random.default_rng(12345)
BASE = RNG.lognormal(0.0, 0.5, size=10)
TREAT = BASE * RNG.lognormal(-0.4, 0.3, size=10)


def test_paired_ratio_equals_scipy():
    out = paired_stats(TREAT, BASE, kind="ratio", seed=7)
    ratio = TREAT / BASE
    ci = stats.bootstrap((ratio,), np.median, confidence_level=0.95, n_resamples=9999, method="BCa",
                         random_state=np.random.default_rng(7)).confidence_interval
    assert out.n == 10
    assert out.effect == np.median(ratio)
    assert (out.ci_low, out.ci_high) == (ci.low, ci.high)
    assert out.ci_low <= out.effect <= out.ci_high
    assert out.p == stats.wilcoxon(np.log(ratio)).pvalue
    assert out.win_rate == np.mean(TREAT < BASE)


def test_wilcoxon_exact_reference_value():
    # Every one of 10 paired differences positive: the exact two-sided signed-rank p is
    # 2 / 2**10 (only the all-plus and all-minus sign patterns are as extreme).
    out = paired_stats(np.arange(1, 11) + 0.5, np.zeros(10) + 0.25, kind="difference")
    assert out.p == pytest.approx(2 / 2**10, rel=1e-12)
    assert out.win_rate == 0.0


def test_counts_use_differences_and_all_ties_give_p_one():
    out = paired_stats([3, 3, 3], [3, 3, 3], kind="difference")
    assert (out.n, out.effect, out.ci_low, out.ci_high, out.p, out.win_rate) == (3, 0.0, 0.0, 0.0, 1.0, 0.5)


def test_tied_counts_get_a_finite_percentile_interval():
    # BCa's acceleration is 0/0 on these heavily tied differences; the percentile
    # interval of the median of {-4 x 7, -3 x 3} lies in [-4, -3].
    out = paired_stats([0] * 10, [4] * 7 + [3] * 3, kind="difference")
    assert -4.0 <= out.ci_low <= out.ci_high <= -3.0 and out.effect == -4.0


def test_non_finite_and_non_positive_pairs_are_left_out():
    out = paired_stats([1.0, np.nan, 2.0, 0.0], [2.0, 1.0, 4.0, 1.0], kind="ratio")
    assert out.n == 2 and out.effect == 0.5


def _study(tmp_path: Path) -> load.Study:
    rows = []
    for fix_v in (True, False):
        for label, factor in (("Base", 1.0), ("Better", 0.5), ("Same", 1.0)):
            for seed in range(6):
                value = (1.0 + seed) * factor * (1.0 if fix_v else 3.0)
                rows.append({"run_id": f"{label}{seed}{fix_v}", "problem": "awbt", "optimizer": label, "seed": seed,
                             "fix_V": fix_v, "status": "done", "final_loss": value, "spike_count": int(seed * factor)})
    summary = pd.DataFrame(rows)
    return load.Study(path=tmp_path, summary=summary, steps=pd.DataFrame(), events=pd.DataFrame(), manifest={},
                      config={"problem": {"name": "awbt", "fix_V": [True, False]}})


def test_compare_groups_pairs_and_adjusts(tmp_path):
    result = compare(_study(tmp_path), "Base")
    numbers = result.numbers
    assert list(numbers["fix_V"]) == [True, True, False, False]
    assert list(numbers["treatment"]) == ["Better", "Same", "Better", "Same"]
    better = numbers[numbers["treatment"] == "Better"]
    np.testing.assert_array_equal(better["effect"], [0.5, 0.5])
    np.testing.assert_array_equal(better["win_rate"], [1.0, 1.0])
    same = numbers[numbers["treatment"] == "Same"]
    np.testing.assert_array_equal(same["p"], [1.0, 1.0])
    np.testing.assert_array_equal(numbers["p_holm"], holm(numbers["p"]))
    counts = compare(_study(tmp_path), "Base", metric="spike_count", by=["fix_V"]).numbers
    assert set(counts["kind"]) == {"difference"}
    # Better's counts are int(seed / 2) vs seed: differences 0, -1, -1, -2, -2, -3.
    assert counts.loc[counts["treatment"] == "Better", "effect"].iloc[0] == -1.5


def test_write_compare_same_bytes(tmp_path):
    study = _study(tmp_path)
    write_compare(study, "Base", out=tmp_path / "a")
    write_compare(study, "Base", out=tmp_path / "b")
    for name in ("compare.md", "compare.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert "[95% CI]" in (tmp_path / "a" / "compare.md").read_text()


def test_cli_compare_bad_baseline_is_one_line_exit_2(tmp_path, capsys):
    study = _study(tmp_path)
    study.summary.to_csv(tmp_path / "summary.csv", index=False)
    pd.DataFrame(columns=["run_id", "step", "kind", "detail"]).to_csv(tmp_path / "events.csv", index=False)
    (tmp_path / "manifest.json").write_text("{}")
    (tmp_path / "study.toml").write_text('[problem]\nname = "awbt"\nfix_V = [true, false]\n')
    (tmp_path / "runs").mkdir()
    assert main(["compare", str(tmp_path), "--baseline", "Nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--baseline 'Nope'" in err[0]
    assert not (tmp_path / "compare.md").exists()
    assert main(["compare", str(tmp_path), "--baseline", "Base"]) == 0
    assert (tmp_path / "compare.csv").is_file()
