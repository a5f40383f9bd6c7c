"""The evidence table of a study with ``[controls]`` (SPEC 11): each treatment against the
baseline arm, paired by seed, under every control the study ran, with a verdict word.

Contrasts, per problem cell (the swept settings), treatment T, baseline B:

- ``with injection``: T vs B, both with injection (the paper's ablation);
- ``no injection``: T vs B, both without injection (what the treatment does without
  any burst: a standing effect, e.g. a preconditioner or a smaller step);
- ``burst effect``: the per-seed ratio ``(T_inj / T_none) / (B_inj / B_none)`` (for
  ratio metrics): below 1 when the treatment loses less to the bursts than B does;
- ``vs matched step``: T vs B run at the lr that matches T's measured median update RMS
  (``matched_step``): below 1 when T beats a plain step-size reduction.

The treatments are the study's declared ones (``[controls] matched_step``, else every
other arm). Every row has the statistics of :func:`muonlab.analysis.compare.paired_stats`,
Holm's adjustment over the rows of its metric (one family per metric) and a verdict: ``lower`` / ``higher`` when the 95% CI
excludes no-effect (1 for ratios, 0 for differences) and the Holm-adjusted p < 0.05,
else ``no clear difference``. Verdicts are words, so that a conclusion can be checked
against a fresh run on any CPU.

Command line: ``python -m muonlab.analysis.evidence DIR [--readme README.md]`` prints the
table, writes ``evidence.md`` / ``evidence.csv`` and, with ``--readme``, rewrites the
block between ``<!-- evidence:begin -->`` and ``<!-- evidence:end -->``.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .compare import ALPHA, holm, metric_kind, paired_stats
from .load import Study, StudyLoadError, load_study
from .readme_block import parse_verdicts, readme_block
from .tables import format_number

DEFAULT_METRICS = ("final_loss", "excess_loss_median", "spike_count@1.5")
CONTRASTS = ("with injection", "no injection", "burst effect", "vs matched step")
BEGIN, END = "<!-- evidence:begin -->", "<!-- evidence:end -->"


def verdict(effect_kind: str, ci_low: float, ci_high: float, p_holm: float) -> str:
    """``lower`` / ``higher`` / ``no clear difference`` (see the module docstring)."""
    null = 1.0 if effect_kind == "ratio" else 0.0
    if not (np.isfinite(p_holm) and p_holm < ALPHA):
        return "no clear difference"
    if ci_high < null:
        return "lower"
    if ci_low > null:
        return "higher"
    return "no clear difference"


def _values(frame: pd.DataFrame, metric: str) -> pd.Series:
    if frame["seed"].duplicated().any():
        raise StudyLoadError("several runs per seed in one arm; give a study without swept hyperparameters")
    return frame.set_index("seed")[metric].astype(float)


def _pairs(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    seeds = [s for s in a.index if s in b.index]
    return a[seeds].to_numpy(), b[seeds].to_numpy()


def evidence(study: Study | str | Path, baseline: str | None = None, metrics: Sequence[str] = DEFAULT_METRICS,
             *, treatments: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per (cell, treatment, metric, contrast) the study's runs allow."""
    study = study if isinstance(study, Study) else load_study(study)
    summary = study.summary
    if "control" not in summary.columns:
        raise StudyLoadError(f"{study.path} has no control column; run a study with [controls]")
    baseline = baseline or study.config.get("controls", {}).get("baseline")
    if baseline not in set(summary["optimizer"]):
        raise StudyLoadError(f"baseline {baseline!r} is not an optimizer of the study; allowed: "
                             f"{', '.join(study.optimizers)}")
    declared = study.config.get("controls", {}).get("matched_step")
    if treatments is None:
        treatments = declared if isinstance(declared, list) else [o for o in study.optimizers if o != baseline]
    cells = study.swept_settings
    rows = []
    groups = summary.groupby(cells, sort=False) if cells else [((), summary)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        arm = {(o, c): g for (o, c), g in group.groupby(["optimizer", "control"], sort=False)}
        matched = group[group["control"] == "matched_step"]
        for treatment in treatments:
            for metric in metrics:
                kind = metric_kind(metric)
                contrasts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
                for contrast, control in (("with injection", "none"), ("no injection", "no_injection")):
                    if (treatment, control) in arm and (baseline, control) in arm:
                        contrasts[contrast] = _pairs(_values(arm[treatment, control], metric),
                                                     _values(arm[baseline, control], metric))
                if kind == "ratio" and "with injection" in contrasts and "no injection" in contrasts:
                    t = _values(arm[treatment, "none"], metric) / _values(arm[treatment, "no_injection"], metric)
                    b = _values(arm[baseline, "none"], metric) / _values(arm[baseline, "no_injection"], metric)
                    contrasts["burst effect"] = _pairs(t.dropna(), b.dropna())
                if "matched_to" in matched.columns:
                    own = matched[(matched["matched_to"] == treatment) & (matched["optimizer"] == baseline)]
                    if not own.empty and (treatment, "none") in arm:
                        contrasts["vs matched step"] = _pairs(_values(arm[treatment, "none"], metric),
                                                              _values(own, metric))
                for contrast in CONTRASTS:
                    if contrast not in contrasts or not np.isfinite(contrasts[contrast][0]).any():
                        continue
                    result = paired_stats(*contrasts[contrast], kind=kind, seed=seed)
                    rows.append({**dict(zip(cells, key)), "treatment": treatment, "baseline": baseline,
                                 "metric": metric, "kind": kind, "contrast": contrast, **result.__dict__})
    columns = [*cells, "treatment", "baseline", "metric", "kind", "contrast", "n", "effect", "ci_low", "ci_high",
               "p", "win_rate"]
    table = pd.DataFrame(rows, columns=columns)
    table["p_holm"] = np.nan
    for _, family in table.groupby("metric", sort=False):
        table.loc[family.index, "p_holm"] = holm(family["p"].to_numpy(dtype=float))
    table["verdict"] = [verdict(k, lo, hi, p) for k, lo, hi, p in
                        zip(table["kind"], table["ci_low"], table["ci_high"], table["p_holm"])]
    return table


def _fmt(value: float) -> str:
    return "n/a" if not np.isfinite(value) else format_number(float(value), integer=False)


def to_markdown(table: pd.DataFrame, cells: Sequence[str]) -> str:
    """One Markdown table per metric: effect [95% CI], Holm p, win rate, verdict."""
    out = []
    for metric, rows in table.groupby("metric", sort=False):
        kind = rows["kind"].iloc[0]
        what = "median paired ratio" if kind == "ratio" else "median paired difference"
        header = [*cells, "treatment", "contrast", "n", f"{what} [95% CI]", "Holm p", "win rate", "verdict"]
        out += [f"**{metric}** vs {rows['baseline'].iloc[0]} ({what}; < {1 if kind == 'ratio' else 0} "
                "favours the treatment)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in rows.to_dict("records"):
            cells_text = [str(row[c]) for c in cells]
            out.append("| " + " | ".join([*cells_text, row["treatment"], row["contrast"], str(row["n"]),
                                          f"{_fmt(row['effect'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]",
                                          "n/a" if not np.isfinite(row["p_holm"]) else f"{row['p_holm']:.2g}",
                                          f"{row['win_rate']:.2f}", row["verdict"]]) + " |")
        out.append("")
    return "\n".join(out)


def write_evidence(study: Study | str | Path, baseline: str | None = None,
                   metrics: Sequence[str] = DEFAULT_METRICS) -> tuple[pd.DataFrame, str]:
    """:func:`evidence` written as ``evidence.md`` / ``evidence.csv`` in the study directory."""
    study = study if isinstance(study, Study) else load_study(study)
    table = evidence(study, baseline, metrics)
    markdown = to_markdown(table, study.swept_settings)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False, lineterminator="\n", float_format=repr)
    (study.path / "evidence.csv").write_text(buffer.getvalue(), encoding="utf-8")
    (study.path / "evidence.md").write_text(markdown, encoding="utf-8")
    return table, markdown


def rewrite_block(text: str, block: str) -> str:
    """``text`` with the part between :data:`BEGIN` and :data:`END` replaced by ``block``."""
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise StudyLoadError(f"no {BEGIN} ... {END} block to rewrite")
    return pattern.sub(lambda _: f"{BEGIN}\n{block.rstrip()}\n{END}", text)


def check_readme(readme: str, block: str) -> int:
    """0 when the README states the same verdict for every contrast as ``block`` (a fresh
    run's), else 1 with one line per difference: the conclusions, not the digits, which
    other CPUs round differently."""
    stated, fresh = parse_verdicts(readme), parse_verdicts(block)
    differences = [f"{' / '.join(key)}: README says {stated.get(key, 'nothing')}, this run {fresh.get(key, 'nothing')}"
                   for key in sorted(set(stated) | set(fresh)) if stated.get(key) != fresh.get(key)]
    for line in differences:
        print(f"evidence: {line}", file=sys.stderr)
    print(f"evidence: {len(fresh) - len(differences)} of {len(fresh)} verdicts as the README states", file=sys.stderr)
    return 1 if differences else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m muonlab.analysis.evidence", description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path, help="study output directory (a study with [controls])")
    parser.add_argument("--baseline", default=None, help="baseline label (default: [controls] baseline)")
    parser.add_argument("--metric", default=",".join(DEFAULT_METRICS), help="summary columns, comma-separated")
    parser.add_argument("--readme", type=Path, default=None, help="rewrite this file's evidence block")
    parser.add_argument("--check", type=Path, default=None, metavar="README",
                        help="compare the verdict lines of README's block with this run's verdicts; exit 1 on a difference")
    args = parser.parse_args(argv)
    try:
        study = load_study(args.dir)
        table, markdown = write_evidence(study, args.baseline, [m.strip() for m in args.metric.split(",") if m.strip()])
        if args.check is not None:
            return check_readme(args.check.read_text(encoding="utf-8"), readme_block(study, table, markdown))
        if args.readme is not None:
            block = readme_block(study, table, markdown)
            args.readme.write_text(rewrite_block(args.readme.read_text(encoding="utf-8"), block), encoding="utf-8")
    except StudyLoadError as exc:
        print(f"evidence: error: {exc}", file=sys.stderr)
        return 2
    print(markdown, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
