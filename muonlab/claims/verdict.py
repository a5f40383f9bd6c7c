"""From per-seed paired values to a verdict (SPEC 11; definitions in docs/claims.md).

Every test works on per-seed *paired* values (common random numbers): the ratio
``treatment / control`` for continuous metrics, the difference for counts
(:func:`muonlab.analysis.compare.metric_kind`). The effect is their median, the 95% CI
a seeded BCa bootstrap of that median (:func:`muonlab.analysis.compare.paired_stats`).
"No effect" is 1 for ratios, 0 for differences. With ``m`` the claim's minimum effect,
the *threshold* a claimed ``lower`` effect must pass is ``1 - m`` (ratio) or ``-m``
(difference); ``higher``: ``1 + m`` or ``+m``.

- paired (and one_sample, interaction):
  ``supported``      CI entirely beyond the threshold in the claimed direction, and the
                     Holm-adjusted one-sided p < 0.05;
  ``not supported``  CI entirely on the other side of "no effect" (the opposite effect);
  ``inconclusive``   otherwise (no detectable effect, or one smaller than ``m``).
  p: one-sided Wilcoxon signed-rank test of the per-seed values (log ratios) against
  the threshold, in the claimed direction.
- equivalence, margin ``m``: band ``[1/(1+m), 1+m]`` (ratio) or ``[-m, m]``;
  ``supported`` CI inside the band and Holm p < 0.05 (TOST: p = the larger of the two
  one-sided Wilcoxon p against the band's ends); ``not supported`` CI entirely outside
  the band; ``inconclusive`` otherwise.
- noninferiority, margin ``m``, direction lower: bound ``1 + m`` (ratio) or ``+m``;
  ``supported`` CI entirely below the bound and Holm p < 0.05 (one-sided against the
  bound); ``not supported`` CI entirely above it; ``inconclusive`` otherwise (mirrored
  for higher).

Several control labels (intersection-union): each pairing is tested; the claim's p is
the largest, its verdict the weakest (``not supported`` < ``inconclusive`` <
``supported``), its effect/CI those of the pairing with the largest p.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from muonlab.analysis.compare import ALPHA, N_RESAMPLES, PairedStats, holm
from muonlab.analysis.compare import paired_stats as _compare_paired_stats

@dataclass(frozen=True)
class Test:
    """One pairing's statistics and its verdict before the Holm adjustment is known.

    ``ci_ok`` says whether the CI alone meets the ``supported`` condition; the final
    verdict also needs the Holm-adjusted ``p`` (:func:`holm_verdicts`)."""

    n: int
    effect: float
    ci_low: float
    ci_high: float
    p: float
    ci_ok: bool
    opposite: bool


def paired_stats(treatment: Sequence[float], control: Sequence[float], *, kind: str, seed: int = 0) -> PairedStats:
    """:func:`muonlab.analysis.compare.paired_stats`, with the percentile bootstrap where
    BCa is undefined: the median of few small integer differences (spike counts) makes
    BCa's acceleration 0/0 and scipy returns NaN; the percentile interval of the same
    seeded resamples is then the CI (docs/claims.md)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        s = _compare_paired_stats(treatment, control, kind=kind, seed=seed)
    if s.n < 2 or np.isfinite(s.ci_low) and np.isfinite(s.ci_high):
        return s
    paired = _paired(np.asarray(treatment), np.asarray(control), kind)
    with np.errstate(invalid="ignore", divide="ignore"):
        ci = stats.bootstrap((paired,), np.median, confidence_level=1 - ALPHA, n_resamples=N_RESAMPLES,
                             method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
    return PairedStats(s.n, s.effect, float(ci.low), float(ci.high), s.p, s.win_rate)


def null_value(kind: str) -> float:
    return 1.0 if kind == "ratio" else 0.0


def _centred(paired: np.ndarray, kind: str, at: float) -> np.ndarray:
    """Per-seed values minus ``at`` on the additive scale (log for ratios)."""
    return np.log(paired) - math.log(at) if kind == "ratio" else paired - at


def one_sided_p(paired: np.ndarray, kind: str, at: float, direction: str) -> float:
    """One-sided Wilcoxon signed-rank p that the per-seed values lie below (``lower``)
    or above (``higher``) ``at``; 1.0 when every value equals ``at``, NaN for n < 2."""
    if paired.size < 2:
        return math.nan
    centred = _centred(paired, kind, at)
    if np.all(centred == 0):
        return 1.0
    alternative = "less" if direction == "lower" else "greater"
    return float(stats.wilcoxon(centred, alternative=alternative).pvalue)


def _paired(treatment: np.ndarray, control: np.ndarray, kind: str) -> np.ndarray:
    t, c = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    keep = np.isfinite(t) & np.isfinite(c)
    if kind == "ratio":
        keep &= (t > 0) & (c > 0)
    return t[keep] / c[keep] if kind == "ratio" else t[keep] - c[keep]


def threshold(kind: str, direction: str, min_effect: float) -> float:
    """The value the CI must lie beyond for a ``direction`` claim of size ``min_effect``."""
    sign = -1.0 if direction == "lower" else 1.0
    return null_value(kind) + sign * min_effect


def directional_test(treatment: Sequence[float], control: Sequence[float], *, kind: str, direction: str,
                     min_effect: float = 0.0, seed: int = 0) -> Test:
    """A paired directional claim (see the module docstring)."""
    s = paired_stats(treatment, control, kind=kind, seed=seed)
    at = threshold(kind, direction, min_effect)
    null = null_value(kind)
    p = one_sided_p(_paired(treatment, control, kind), kind, at, direction)
    if direction == "lower":
        ci_ok, opposite = s.ci_high < at, s.ci_low > null
    else:
        ci_ok, opposite = s.ci_low > at, s.ci_high < null
    return Test(s.n, s.effect, s.ci_low, s.ci_high, p, bool(ci_ok), bool(opposite))


def equivalence_test(treatment: Sequence[float], control: Sequence[float], *, kind: str, margin: float,
                     seed: int = 0) -> Test:
    """TOST-like equivalence within ``margin`` (see the module docstring)."""
    s = paired_stats(treatment, control, kind=kind, seed=seed)
    low, high = (1.0 / (1.0 + margin), 1.0 + margin) if kind == "ratio" else (-margin, margin)
    paired = _paired(treatment, control, kind)
    p = max(one_sided_p(paired, kind, low, "higher"), one_sided_p(paired, kind, high, "lower"))
    ci_ok = low < s.ci_low and s.ci_high < high
    outside = s.ci_low > high or s.ci_high < low
    return Test(s.n, s.effect, s.ci_low, s.ci_high, p, bool(ci_ok), bool(outside))


def noninferiority_test(treatment: Sequence[float], control: Sequence[float], *, kind: str, margin: float,
                        direction: str, seed: int = 0) -> Test:
    """Treatment at most ``margin`` worse than control (see the module docstring)."""
    s = paired_stats(treatment, control, kind=kind, seed=seed)
    worse = "higher" if direction == "lower" else "lower"
    bound = threshold(kind, worse, margin)
    p = one_sided_p(_paired(treatment, control, kind), kind, bound, direction)
    if direction == "lower":
        ci_ok, beyond = s.ci_high < bound, s.ci_low > bound
    else:
        ci_ok, beyond = s.ci_low > bound, s.ci_high < bound
    return Test(s.n, s.effect, s.ci_low, s.ci_high, p, bool(ci_ok), bool(beyond))


def verdict(test: Test, p_holm: float) -> str:
    """The verdict of one test given its Holm-adjusted p."""
    if test.ci_ok and np.isfinite(p_holm) and p_holm < ALPHA:
        return "supported"
    if test.opposite:
        return "not supported"
    return "inconclusive"


def combine(tests: Sequence[Test]) -> Test:
    """Intersection-union over several control labels: the pairing with the largest p
    carries the effect; ``ci_ok`` only if every pairing's is, ``opposite`` if any is."""
    if len(tests) == 1:
        return tests[0]
    ps = [t.p if np.isfinite(t.p) else math.inf for t in tests]
    worst = tests[int(np.argmax(ps))]
    return Test(min(t.n for t in tests), worst.effect, worst.ci_low, worst.ci_high,
                max(t.p for t in tests) if all(np.isfinite(t.p) for t in tests) else math.nan,
                all(t.ci_ok for t in tests), any(t.opposite for t in tests))


def holm_verdicts(tests: Sequence[Test]) -> tuple[np.ndarray, list[str]]:
    """Holm-adjusted p over the whole set of claims, and each claim's verdict."""
    p_holm = holm([t.p for t in tests])
    return p_holm, [verdict(t, p) for t, p in zip(tests, p_holm)]


def with_controls(own: str, controls: Sequence[tuple[str, str]]) -> str:
    """A ``supported`` verdict stands only when every control reached its expected
    verdict (``controls``: (verdict, expected) pairs); otherwise it is ``inconclusive``."""
    if own == "supported" and any(v != expect for v, expect in controls):
        return "inconclusive"
    return own
