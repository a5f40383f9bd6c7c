"""Paired comparisons of a study's runs, seed by seed (SPEC 11).

Runs of one cell share seeds, problem instances and events (common random numbers), so a
treatment is compared with a baseline on the *same* seeds. For each treatment arm and
each ``by`` group:

- ``n``: seeds where both runs have a finite value of the metric;
- ``effect``: the median over seeds of the paired ratio ``treatment / baseline`` (of the
  paired difference ``treatment - baseline`` for count metrics, where a ratio of two
  zero counts is undefined);
- ``ci_low``, ``ci_high``: a seeded paired bootstrap 95% CI of that median
  (``scipy.stats.bootstrap`` on the per-seed ratios or differences, resampling seeds,
  fixed ``random_state``; BCa, or the percentile interval where BCa is undefined, as for
  heavily tied counts);
- ``p``: the two-sided Wilcoxon signed-rank p (``scipy.stats.wilcoxon``) of the
  per-seed log ratios (differences for counts) against 0; ``1.0`` when every difference
  is 0 (no evidence of any difference), NaN with fewer than 2 pairs;
- ``win_rate``: the share of seeds where the treatment is lower (better for losses and
  counts; ties count half);
- ``p_holm``: Holm's step-down adjustment of ``p`` over every row of the table.

Same data and seed give the same bytes of ``compare.md`` / ``compare.csv``.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from .load import Study, StudyLoadError, load_study
from .tables import COUNT_METRICS, format_number

COLUMNS = ("metric", "kind", "treatment", "baseline", "n", "effect", "ci_low", "ci_high",
           "p", "p_holm", "win_rate")
ALPHA = 0.05
# summary.csv columns of studies with [controls] (muonlab.runner.controls): never part of an arm.
CONTROL_COLUMNS = ("control", "matched_to")
N_RESAMPLES = 9999


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values; NaN entries stay NaN and are not counted.

    Sorted ascending ``p_(1) <= ... <= p_(m)``: ``p_holm_(i) = max_{k<=i} min(1, (m-k+1) p_(k))``.
    """
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(~np.isnan(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = order.size
    adjusted = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adjusted)
    return out


@dataclass(frozen=True)
class PairedStats:
    """The statistics of one treatment/baseline pairing (see the module docstring)."""

    n: int
    effect: float
    ci_low: float
    ci_high: float
    p: float
    win_rate: float


def paired_stats(treatment: Sequence[float], baseline: Sequence[float], *, kind: str = "ratio",
                 seed: int = 0, n_resamples: int = N_RESAMPLES) -> PairedStats:
    """Paired statistics of per-seed values (aligned arrays; pairs with a non-finite or,
    for ratios, non-positive value are left out). ``kind``: ``ratio`` or ``difference``."""
    if kind not in ("ratio", "difference"):
        raise ValueError(f"paired_stats: kind must be ratio or difference, got {kind!r}")
    t, b = np.asarray(treatment, dtype=float), np.asarray(baseline, dtype=float)
    keep = np.isfinite(t) & np.isfinite(b)
    if kind == "ratio":
        keep &= (t > 0) & (b > 0)
    t, b = t[keep], b[keep]
    n = int(t.size)
    if n == 0:
        return PairedStats(0, np.nan, np.nan, np.nan, np.nan, np.nan)
    paired = t / b if kind == "ratio" else t - b
    # The Wilcoxon test is on the scale where "no effect" is 0 and effects are additive.
    centred = np.log(paired) if kind == "ratio" else paired
    effect = float(np.median(paired))
    win_rate = float(np.mean(np.where(t < b, 1.0, np.where(t == b, 0.5, 0.0))))
    if n < 2:
        return PairedStats(n, effect, np.nan, np.nan, np.nan, win_rate)
    p = 1.0 if np.all(centred == 0) else float(stats.wilcoxon(centred).pvalue)
    if np.all(paired == paired[0]):
        ci_low = ci_high = float(paired[0])  # every resample has this median
    else:
        ci_low, ci_high = _bootstrap_ci(paired, seed, n_resamples)
    return PairedStats(n, effect, ci_low, ci_high, p, win_rate)


def _bootstrap_ci(paired: np.ndarray, seed: int, n_resamples: int) -> tuple[float, float]:
    """BCa bootstrap CI of the median; the percentile interval where BCa is undefined
    (its acceleration is 0/0 for heavily tied data such as small counts)."""
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
            ci = stats.bootstrap((paired,), np.median, confidence_level=1 - ALPHA, n_resamples=n_resamples,
                                 method=method, random_state=np.random.default_rng(seed)).confidence_interval
        if np.isfinite(ci.low) and np.isfinite(ci.high):
            break
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class CompareResult:
    """The comparison table (one row per treatment and group; ``COLUMNS`` plus the
    ``by`` columns) and its Markdown text."""

    numbers: pd.DataFrame
    markdown: str


def metric_kind(metric: str) -> str:
    """``difference`` for count metrics (``spike_count``, ``spike_count@RHO``), else ``ratio``."""
    return "difference" if metric in COUNT_METRICS or metric.startswith("spike_count@") else "ratio"


def default_by(study: Study, baseline: str) -> list[str]:
    """The swept problem settings, the ``control`` column when present, and the swept
    hyperparameters the baseline itself takes several values of (``lr_grid``: one
    comparison per lr)."""
    summary = study.summary
    base = summary[(summary["optimizer"] == baseline) & (summary.get("control", "none") == "none")]
    hparams = [c for c in study.swept_hparams if c not in CONTROL_COLUMNS and base[c].nunique() > 1]
    return [*study.swept_settings, *(["control"] if "control" in summary.columns else []), *hparams]


def compare(study: Study | str | Path, baseline: str, metric: str = "final_loss",
            by: Sequence[str] | None = None, *, seed: int = 0) -> CompareResult:
    """Every other arm vs ``baseline`` (an optimizer label) within each ``by`` group,
    paired by seed (see the module docstring). An arm is an optimizer label together
    with any swept hyperparameter not in ``by``."""
    study = study if isinstance(study, Study) else load_study(study)
    summary = study.summary
    if baseline not in set(summary["optimizer"]):
        raise StudyLoadError(f"compare: --baseline {baseline!r} is not an optimizer of the study; "
                             f"allowed: {', '.join(study.optimizers)}")
    by = default_by(study, baseline) if by is None else list(by)
    for column in (metric, *by):
        if column not in summary.columns:
            raise StudyLoadError(f"compare: no column {column!r} in summary.csv; available: "
                                 f"{', '.join(summary.columns)}")
    kind = metric_kind(metric)
    hparams = [c for c in study.swept_hparams if c not in by and c not in CONTROL_COLUMNS and c in summary.columns]
    rows = []
    groups = summary.groupby(by, sort=False, dropna=False) if by else [((), summary)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        base = group[group["optimizer"] == baseline]
        if base.empty or base.shape[0] == group.shape[0]:
            continue  # nothing to compare in this group (e.g. the matched-step runs alone)
        # An arm: the label, plus the swept hyperparameters that vary inside the group.
        varying = [c for c in hparams if group[c].nunique(dropna=False) > 1]
        group = group.assign(_arm=group[["optimizer", *varying]].astype(str).agg(" ".join, axis=1))
        if base["seed"].duplicated().any():
            raise StudyLoadError(f"compare: baseline {baseline!r} has several runs per seed in group "
                                 f"{dict(zip(by, key))}; add the swept column to --by")
        base_values = base.set_index("seed")[metric]
        for arm, runs in group[group["optimizer"] != baseline].groupby("_arm", sort=False):
            values = runs.set_index("seed")[metric]
            common = [s for s in values.index if s in base_values.index]
            result = paired_stats(values[common].to_numpy(), base_values[common].to_numpy(), kind=kind, seed=seed)
            rows.append({**dict(zip(by, key)), "metric": metric, "kind": kind, "treatment": arm,
                         "baseline": baseline, **result.__dict__})
    numbers = pd.DataFrame(rows, columns=[*by, *(c for c in COLUMNS if c != "p_holm")])
    numbers["p_holm"] = holm(numbers["p"].to_numpy(dtype=float))
    numbers = numbers[[*by, *COLUMNS]]
    return CompareResult(numbers=numbers, markdown=to_markdown(numbers, by))


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else format_number(float(value), integer=False)


def _fmt_p(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.2g}"


def to_markdown(numbers: pd.DataFrame, by: Sequence[str]) -> str:
    """One Markdown row per comparison: effect [95% CI], p, Holm p, win rate."""
    if numbers.empty:
        return "(no pairs to compare)\n"
    kind = numbers["kind"].iloc[0]
    effect_name = "median ratio" if kind == "ratio" else "median difference"
    header = [*by, "treatment", "vs", "n", f"{effect_name} [95% CI]", "Wilcoxon p", "Holm p", "win rate"]
    lines = [f"{numbers['metric'].iloc[0]}: treatment vs baseline, paired by seed",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in numbers.itertuples(index=False):
        values = row._asdict()
        cells = [str(values[c]) for c in by] + [
            values["treatment"], values["baseline"], str(values["n"]),
            f"{_fmt(values['effect'])} [{_fmt(values['ci_low'])}, {_fmt(values['ci_high'])}]",
            _fmt_p(values["p"]), _fmt_p(values["p_holm"]),
            "n/a" if not np.isfinite(values["win_rate"]) else f"{values['win_rate']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_compare(study: Study | str | Path, baseline: str, metric: str = "final_loss",
                  by: Sequence[str] | None = None, *, seed: int = 0, out: Path | None = None) -> CompareResult:
    """:func:`compare`, written as ``compare.md`` and ``compare.csv`` into ``out``
    (default: the study directory)."""
    study = study if isinstance(study, Study) else load_study(study)
    result = compare(study, baseline, metric, by, seed=seed)
    out = study.path if out is None else Path(out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    result.numbers.to_csv(buffer, index=False, lineterminator="\n", float_format=repr)
    (out / "compare.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (out / "compare.md").write_text(result.markdown, encoding="utf-8")
    return result
