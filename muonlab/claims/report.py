"""``claims.md``, ``claims.csv`` and a self-contained ``report.html`` (plots embedded as
base64 PNG, the studies' manifests: versions and git revision). Same results, same bytes."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from muonlab.analysis.tables import format_number
from muonlab.runner.outputs import write_atomic

from .evaluate import ClaimResult
from .plots import claim_figure

CSV_COLUMNS = ("id", "role", "source", "kind", "treatment", "control", "metric", "direction", "where",
               "min_effect", "margin", "n", "effect", "ci_low", "ci_high", "p", "p_holm", "own_verdict",
               "verdict", "controls", "study")
MANIFEST_KEYS = ("muonlab", "torch", "numpy", "python", "device", "git_revision", "cpu", "threads")


@dataclass(frozen=True)
class RunInfo:
    """What the report says about how the set was run."""

    quick: bool
    seconds: float | None
    manifests: Mapping[str, Mapping[str, Any]]  # study name -> manifest.json
    seeds_note: str


def _num(value: float) -> str:
    return "n/a" if not math.isfinite(value) else format_number(float(value), integer=False)


def _p(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2g}"


def _where(result: ClaimResult) -> str:
    claim = result.claim
    parts = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in claim.where]
    if claim.interaction:
        i = claim.interaction
        parts.append(f"{i.setting}: {i.stronger} vs {i.weaker}")
    return ", ".join(parts)


def _controls(result: ClaimResult) -> str:
    return "; ".join(f"{cid}: {v}{'' if v == e else f' (expected {e})'}" for cid, v, e in result.controls)


def rows(results: Sequence[ClaimResult]) -> pd.DataFrame:
    """One row per claim (``CSV_COLUMNS``)."""
    out = []
    for r in results:
        c = r.claim
        out.append({
            "id": c.id, "role": c.role, "source": c.source, "kind": c.kind, "treatment": c.treatment,
            "control": " & ".join(c.controls_labels) or f"reference {c.reference:g}", "metric": c.metric,
            "direction": c.direction, "where": _where(r), "min_effect": c.min_effect,
            "margin": math.nan if c.margin is None else c.margin, "n": int(r.test.n), "effect": float(r.test.effect),
            "ci_low": float(r.test.ci_low), "ci_high": float(r.test.ci_high), "p": float(r.test.p),
            "p_holm": float(r.p_holm),
            "own_verdict": r.own_verdict, "verdict": r.verdict, "controls": _controls(r),
            "study": c.study_file(False).name,
        })
    return pd.DataFrame(out, columns=list(CSV_COLUMNS))


def _markdown_table(results: Sequence[ClaimResult]) -> list[str]:
    header = ["claim", "source", "treatment vs control", "metric", "n", "effect [95% CI]", "Holm p",
              "verdict", "controls"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in results:
        c = r.claim
        vs = " & ".join(c.controls_labels) or f"reference {c.reference:g}"
        where = f" ({_where(r)})" if _where(r) else ""
        lines.append("| " + " | ".join([
            c.id + (" (control)" if c.role == "control" else ""), c.source, f"{c.treatment} vs {vs}{where}",
            f"{c.metric} ({c.kind}, {c.direction})", str(r.test.n),
            f"{_num(r.test.effect)} [{_num(r.test.ci_low)}, {_num(r.test.ci_high)}]", _p(r.p_holm),
            f"**{r.verdict}**", _controls(r) or "-",
        ]) + " |")
    return lines


def _mode_line(info: RunInfo) -> str:
    mode = "QUICK (fewer seeds and steps than the full protocol)" if info.quick else "full"
    timing = "" if info.seconds is None else f"; wall time {info.seconds:.0f} s"
    return f"Mode: {mode}; {info.seeds_note}{timing}."


def markdown(results: Sequence[ClaimResult], info: RunInfo) -> str:
    lines = ["# Claims", "", _mode_line(info), "",
             "Effects are medians over seeds of per-seed paired ratios (differences for counts; "
             "differences of log ratios for interactions); 95% CI: seeded BCa bootstrap; p: one-sided "
             "Wilcoxon signed-rank (TOST for equivalence), Holm-adjusted over the whole set. "
             "Definitions: docs/claims.md.", "", *_markdown_table(results), ""]
    for r in results:
        lines += [f"- **{r.claim.id}**: {r.claim.statement}"]
    return "\n".join(lines) + "\n"


def csv_text(results: Sequence[ClaimResult]) -> str:
    buffer = io.StringIO()
    # repr of a Python float (the shortest round-trip text); pandas hands numpy scalars to
    # float_format, whose repr is "np.float64(...)".
    rows(results).to_csv(buffer, index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))
    return buffer.getvalue()


def _html_table(frame: pd.DataFrame, css_class: str) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f'<table class="{css_class}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def html_report(results: Sequence[ClaimResult], info: RunInfo, figures: Mapping[str, bytes],
                study_plots: Mapping[str, Sequence[tuple[str, bytes]]]) -> str:
    """The self-contained report: summary table, one section per claim (statement,
    numbers, its figure and the study plots it names), the manifests."""
    summary = pd.DataFrame([{
        "claim": r.claim.id, "role": r.claim.role, "source": r.claim.source,
        "effect [95% CI]": f"{_num(r.test.effect)} [{_num(r.test.ci_low)}, {_num(r.test.ci_high)}]",
        "n": r.test.n, "Holm p": _p(r.p_holm), "verdict": r.verdict, "controls": _controls(r) or "-",
    } for r in results])
    sections = []
    for r in results:
        c = r.claim
        images = [("claim", figures[c.id])] + list(study_plots.get(c.id, ()))
        imgs = "".join(
            f'<figure><img alt="{html.escape(c.id)} {html.escape(name)}" '
            f'src="data:image/png;base64,{base64.b64encode(png).decode()}"><figcaption>{html.escape(name)}'
            f"</figcaption></figure>" for name, png in images)
        detail = rows([r]).drop(columns=["id", "source"]).T.reset_index()
        detail.columns = ["field", "value"]
        sections.append(
            f'<section id="{html.escape(c.id)}"><h2>{html.escape(c.id)}: '
            f'<span class="v-{r.verdict.replace(" ", "-")}">{html.escape(r.verdict)}</span></h2>'
            f"<p><b>{html.escape(c.source)}</b>: {html.escape(c.statement)}</p>"
            f"{_html_table(detail, 'detail')}{imgs}</section>")
    manifests = pd.DataFrame([{"study": name, **{k: str(m.get(k, "")) for k in MANIFEST_KEYS}}
                              for name, m in sorted(info.manifests.items())],
                             columns=["study", *MANIFEST_KEYS])
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
             "margin:8px 0}td,th{border:1px solid #bbb;padding:2px 6px;font-size:13px}img{max-width:100%}"
             ".v-supported{color:#1a7f37}.v-not-supported{color:#b42318}.v-inconclusive{color:#9a6700}")
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>muonlab claims</title>"
            f"<style>{style}</style></head><body><h1>muonlab claims</h1>"
            f"<p>{html.escape(_mode_line(info))}</p>{_html_table(summary, 'summary')}"
            f"{''.join(sections)}<h2>Manifests</h2>{_html_table(manifests, 'manifests')}</body></html>\n")


def write_report(results: Sequence[ClaimResult], info: RunInfo, out: Path,
                 study_plots: Mapping[str, Sequence[tuple[str, bytes]]] | None = None) -> list[Path]:
    """Write claims.md, claims.csv, report.html and plots/<id>.png into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    figures = {r.claim.id: claim_figure(r) for r in results}
    for claim_id, png in figures.items():
        (out / "plots" / f"{claim_id}.png").write_bytes(png)
    paths = [out / "claims.md", out / "claims.csv", out / "report.html"]
    write_atomic(paths[0], markdown(results, info))
    write_atomic(paths[1], csv_text(results))
    write_atomic(paths[2], html_report(results, info, figures, study_plots or {}))
    return paths


def read_report(out: str | Path) -> tuple[pd.DataFrame, dict[str, Path]]:
    """A written claims directory: its claims.csv and each claim's figure path."""
    out = Path(out)
    table = pd.read_csv(out / "claims.csv", keep_default_na=False, na_values=["nan"])
    return table, {claim_id: out / "plots" / f"{claim_id}.png" for claim_id in table["id"]}
