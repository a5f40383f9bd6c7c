"""Verdicts on synthetic per-seed data with a known effect (SPEC 11, docs/claims.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from muonlab.analysis.compare import holm
from muonlab.claims import evaluate_study_claim, judge, parse_claim
from muonlab.claims.verdict import directional_test, equivalence_test, holm_verdicts, noninferiority_test

from tests.claims.synthetic import BASE_CLAIM, synthetic_study

N = 10
RNG = np.random.default_rng(12345)
CONTROL = np.exp(RNG.normal(0.0, 0.5, N))  # per-seed baselines spread over a factor ~3
NOISE = np.exp(RNG.normal(0.0, 0.02, N))  # per-seed multiplicative noise, 2%


def verdict_of(test) -> str:
    return holm_verdicts([test])[1][0]


@pytest.mark.parametrize(("factor", "expected"), [(0.7, "supported"), (1.0, "inconclusive"), (1.3, "not supported")])
def test_directional_ratio_claim(factor, expected):
    # A 30% reduction against a 10% minimum effect: the CI of the median ratio
    # (~0.7 +- 2% noise) lies below 0.9; no effect: the CI straddles 1; a 30% increase:
    # the CI lies above 1.
    test = directional_test(CONTROL * factor * NOISE, CONTROL, kind="ratio", direction="lower", min_effect=0.1)
    assert verdict_of(test) == expected


def test_effect_smaller_than_minimum_is_inconclusive():
    # A real 5% reduction that does not reach the claimed 10%.
    test = directional_test(CONTROL * 0.95 * NOISE, CONTROL, kind="ratio", direction="lower", min_effect=0.1)
    assert test.ci_high < 1.0 and verdict_of(test) == "inconclusive"


@pytest.mark.parametrize(("shift", "expected"), [(-3, "supported"), (0, "inconclusive"), (3, "not supported")])
def test_directional_count_claim(shift, expected):
    counts = RNG.integers(5, 15, N).astype(float)
    jitter = np.array([0, 1, -1, 0, 1, 0, -1, 0, 1, 0], dtype=float)
    test = directional_test(counts + shift + jitter, counts, kind="difference", direction="lower", min_effect=1.0)
    assert verdict_of(test) == expected


def test_higher_direction_mirrors_lower():
    up = directional_test(CONTROL * 1.5 * NOISE, CONTROL, kind="ratio", direction="higher", min_effect=0.2)
    down = directional_test(CONTROL * 1.5 * NOISE, CONTROL, kind="ratio", direction="lower", min_effect=0.2)
    assert (verdict_of(up), verdict_of(down)) == ("supported", "not supported")


@pytest.mark.parametrize(("factor", "expected"), [(1.01, "supported"), (1.10, "inconclusive"), (1.5, "not supported")])
def test_equivalence(factor, expected):
    # Band [1/1.05, 1.05]. 1% off with 2% noise: CI inside. 10% off with per-seed
    # factors spread over +-12%: the CI straddles the band's edge 1.05. 50% off: CI
    # entirely above the band.
    noise = NOISE if factor != 1.10 else np.exp(np.linspace(-0.12, 0.12, N))
    test = equivalence_test(CONTROL * factor * noise, CONTROL, kind="ratio", margin=0.05)
    assert verdict_of(test) == expected


@pytest.mark.parametrize(("factor", "expected"), [(1.02, "supported"), (1.3, "not supported")])
def test_noninferiority(factor, expected):
    test = noninferiority_test(CONTROL * factor * NOISE, CONTROL, kind="ratio", margin=0.1, direction="lower")
    assert verdict_of(test) == expected


def test_holm_over_the_set_changes_verdicts():
    # Five seeds all in the claimed direction: exact one-sided Wilcoxon p = 2**-5 =
    # 0.03125 < 0.05: supported alone. Two such claims in one set: Holm gives each
    # 2 * 0.03125 = 0.0625 > 0.05: both inconclusive, though each CI excludes 1.
    t = directional_test(CONTROL[:5] * 0.5 * NOISE[:5], CONTROL[:5], kind="ratio", direction="lower")
    assert t.p == pytest.approx(2.0**-5, rel=1e-12)
    assert holm_verdicts([t])[1] == ["supported"]
    p_holm, verdicts = holm_verdicts([t, t])
    np.testing.assert_allclose(p_holm, [0.0625, 0.0625], rtol=1e-12)
    assert verdicts == ["inconclusive", "inconclusive"]
    np.testing.assert_array_equal(holm_verdicts([t, t])[0], holm([t.p, t.p]))


def _claim(studies_dir: Path, **changes):
    raw = {**BASE_CLAIM, **changes}
    return parse_claim(raw, studies_dir.parent / "claims" / f"{raw['id']}.toml", studies_dir)


def test_claim_on_synthetic_study(studies_dir, tmp_path):
    study = synthetic_study(tmp_path, {("A", True): CONTROL * 0.6 * NOISE, ("B", True): CONTROL,
                                       ("A", False): CONTROL, ("B", False): CONTROL * NOISE})
    claim = _claim(studies_dir, min_effect=0.2)
    test, evidence = evaluate_study_claim(claim, study)
    assert evidence.seeds == tuple(range(N))
    np.testing.assert_allclose(test.effect, np.median(0.6 * NOISE), rtol=1e-12)
    assert judge([claim], {claim.id: (test, evidence)})[0].verdict == "supported"
    other = _claim(studies_dir, where={"fix_V": False})
    assert judge([other], {other.id: evaluate_study_claim(other, study)})[0].verdict == "inconclusive"


def test_interaction_claim(studies_dir, tmp_path):
    # Treatment's advantage: 40% under fix_V=true, 10% under fix_V=false -> the log-ratio
    # effect is more negative under true by log(0.6/0.9) = -0.405 per seed.
    study = synthetic_study(tmp_path, {("A", True): CONTROL * 0.6 * NOISE, ("B", True): CONTROL,
                                       ("A", False): CONTROL * 0.9, ("B", False): CONTROL * NOISE})
    claim = _claim(studies_dir, id="inter", kind="interaction", where={},
                   interaction={"setting": "fix_V", "stronger": True, "weaker": False})
    test, evidence = evaluate_study_claim(claim, study)
    assert test.effect == pytest.approx(np.log(0.6 / 0.9), abs=0.05)  # noise: 2 x 2% per seed
    assert judge([claim], {"inter": (test, evidence)})[0].verdict == "supported"
    reverse = _claim(studies_dir, id="inter", kind="interaction", where={},
                     interaction={"setting": "fix_V", "stronger": False, "weaker": True})
    assert judge([reverse], {"inter": evaluate_study_claim(reverse, study)})[0].verdict == "not supported"


def test_one_sample_claim(studies_dir, tmp_path):
    study = synthetic_study(tmp_path, {("A", True): 1.5 * NOISE, ("B", True): 0.8 * NOISE})
    above = _claim(studies_dir, id="one", kind="one_sample", control=[], reference=1.0, direction="higher")
    below = _claim(studies_dir, id="one", kind="one_sample", control=[], reference=1.0, direction="higher",
                   treatment="B")
    assert judge([above], {"one": evaluate_study_claim(above, study)})[0].verdict == "supported"
    assert judge([below], {"one": evaluate_study_claim(below, study)})[0].verdict == "not supported"


def test_failed_control_withdraws_support(studies_dir, tmp_path):
    study = synthetic_study(tmp_path, {("A", True): CONTROL * 0.6 * NOISE, ("B", True): CONTROL,
                                       ("A", False): CONTROL * NOISE, ("B", False): CONTROL})
    main = _claim(studies_dir, id="main", controls=["ctl"])
    control = _claim(studies_dir, id="ctl", role="control", where={"fix_V": False})  # no effect there
    outcomes = {c.id: evaluate_study_claim(c, study) for c in (main, control)}
    by_id = {r.claim.id: r for r in judge([main, control], outcomes)}
    assert by_id["ctl"].verdict == "inconclusive"
    assert by_id["main"].own_verdict == "supported" and by_id["main"].verdict == "inconclusive"
    assert not by_id["main"].controls_agree
