"""Evaluate claims on their studies: per-seed values -> tests -> Holm over the set ->
verdicts, with each claim's controls (definitions: :mod:`muonlab.claims.verdict`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from muonlab.analysis.load import Study

from .schema import Claim
from .values import aligned, seed_values
from .verdict import (
    Test,
    combine,
    directional_test,
    equivalence_test,
    holm_verdicts,
    noninferiority_test,
    with_controls,
)


@dataclass(frozen=True)
class Evidence:
    """The per-seed numbers a claim's test rests on (for tables and plots).

    ``values`` maps a series name (a label, ``label @ setting=value`` for interactions,
    or ``reference``) to its per-seed values on ``seeds``; ``scale`` is ``ratio`` or
    ``difference``; ``pairs`` lists (treatment series, control series) tested."""

    seeds: tuple[int, ...]
    values: dict[str, np.ndarray]
    pairs: tuple[tuple[str, str], ...]
    scale: str


def _pair_test(claim: Claim, t: np.ndarray, c: np.ndarray, scale: str) -> Test:
    if claim.kind == "equivalence":
        return equivalence_test(t, c, kind=scale, margin=claim.margin)
    if claim.kind == "noninferiority":
        return noninferiority_test(t, c, kind=scale, margin=claim.margin, direction=claim.direction)
    return directional_test(t, c, kind=scale, direction=claim.direction, min_effect=claim.min_effect)


def _per_seed_effect(t: np.ndarray, c: np.ndarray, scale: str) -> np.ndarray:
    """log ratio (ratio metrics) or difference (counts) per seed: additive effects."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(t / c) if scale == "ratio" else t - c


def evaluate_study_claim(claim: Claim, study: Study) -> tuple[Test, Evidence]:
    """The test of a claim on its loaded study (every kind except cost)."""
    scale = claim.scale
    where = dict(claim.where)
    if claim.kind == "one_sample":
        t = seed_values(study, claim.treatment, claim.metric, where)
        reference = np.full(len(t), claim.reference)
        test = directional_test(t.to_numpy(float), reference, kind=scale, direction=claim.direction,
                                min_effect=claim.min_effect)
        return test, Evidence(tuple(int(s) for s in t.index), {claim.treatment: t.to_numpy(float),
                              "reference": reference}, ((claim.treatment, "reference"),), scale)
    if claim.kind == "interaction":
        return _interaction(claim, study, scale, where)
    control_where = {**where, **dict(claim.control_where)}
    treatment = seed_values(study, claim.treatment, claim.metric, where)
    series = {_name(claim, claim.treatment, claim.metric): treatment}
    tests, pairs = [], []
    for label in claim.controls_labels:
        name = _name(claim, label, claim.control_metric, control_where != where)
        series[name] = seed_values(study, label, claim.control_metric, control_where)
        t, c, _ = aligned(treatment, series[name])
        tests.append(_pair_test(claim, t, c, scale))
        pairs.append((next(iter(series)), name))
    seeds = sorted(set.intersection(*(set(v.index) for v in series.values())))
    values = {name: v[seeds].to_numpy(float) for name, v in series.items()}
    return combine(tests), Evidence(tuple(int(s) for s in seeds), values, tuple(pairs), scale)


def _name(claim: Claim, label: str, metric: str, selected: bool = False) -> str:
    """Series name: the label, with the metric when it differs from the claim's and a
    mark when the control runs are selected differently (control_where)."""
    name = label if metric == claim.metric else f"{label} [{metric}]"
    if selected:
        name += " [" + ", ".join(f"{k}={v}" for k, v in claim.control_where) + "]"
    return name


def _interaction(claim: Claim, study: Study, scale: str, where: dict) -> tuple[Test, Evidence]:
    """Per seed: effect (log ratio or difference) under ``stronger`` minus under ``weaker``."""
    inter = claim.interaction
    effects = {}
    for end in (inter.stronger, inter.weaker):
        at = {**where, inter.setting: end}
        per_control = []
        for label in claim.controls_labels:
            t, c, seeds = aligned(seed_values(study, claim.treatment, claim.metric, at),
                                  seed_values(study, label, claim.metric, at))
            per_control.append(dict(zip(seeds, _per_seed_effect(t, c, scale))))
        common = sorted(set.intersection(*(set(d) for d in per_control)))
        # Several controls: the effect against each, averaged per seed.
        effects[end] = {s: float(np.mean([d[s] for d in per_control])) for s in common}
    seeds = sorted(set(effects[inter.stronger]) & set(effects[inter.weaker]))
    a = np.array([effects[inter.stronger][s] for s in seeds])
    b = np.array([effects[inter.weaker][s] for s in seeds])
    test = directional_test(a, b, kind="difference", direction=claim.direction, min_effect=claim.min_effect)
    name_a, name_b = (f"effect @ {inter.setting}={_show(v)}" for v in (inter.stronger, inter.weaker))
    return test, Evidence(tuple(int(s) for s in seeds), {name_a: a, name_b: b}, ((name_a, name_b),), "difference")


def _show(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def evaluate_cost_claim(claim: Claim, times: Mapping[str, np.ndarray]) -> tuple[Test, Evidence]:
    """The test of a cost claim on measured seconds per step (rounds pair like seeds)."""
    t = times[claim.treatment]
    tests = [_pair_test(claim, t, times[label], claim.scale) for label in claim.controls_labels]
    rounds = tuple(range(len(t)))
    values = {label: np.asarray(times[label]) for label in (claim.treatment, *claim.controls_labels)}
    pairs = tuple((claim.treatment, label) for label in claim.controls_labels)
    return combine(tests), Evidence(rounds, values, pairs, claim.scale)


@dataclass(frozen=True)
class ClaimResult:
    """One claim's outcome: its test, Holm-adjusted p, verdict before and after its
    controls, and the controls' (id, verdict, expected) triples."""

    claim: Claim
    test: Test
    evidence: Evidence
    p_holm: float
    own_verdict: str
    verdict: str
    controls: tuple[tuple[str, str, str], ...]

    @property
    def controls_agree(self) -> bool:
        return all(v == expect for _, v, expect in self.controls)


def judge(claims: Sequence[Claim], outcomes: Mapping[str, tuple[Test, Evidence]]) -> list[ClaimResult]:
    """Holm over every claim of the set (controls included), then each claim's verdict
    with its controls (:func:`muonlab.claims.verdict.with_controls`)."""
    tests = [outcomes[c.id][0] for c in claims]
    p_holm, own = holm_verdicts(tests)
    own_by_id = {c.id: v for c, v in zip(claims, own)}
    by_id = {c.id: c for c in claims}
    results = []
    for claim, p, v in zip(claims, p_holm, own):
        controls = tuple((cid, own_by_id[cid], by_id[cid].expect) for cid in claim.controls if cid in own_by_id)
        final = with_controls(v, [(cv, expect) for _, cv, expect in controls])
        results.append(ClaimResult(claim, outcomes[claim.id][0], outcomes[claim.id][1], float(p), v, final, controls))
    return results
