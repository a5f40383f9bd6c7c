"""Median (q25, q75) tables formatted like TrasMuon Table 4 (SPEC 6).

A cell is ``median (q25,q75)`` over the runs of a group (linear-interpolated quantiles,
NaN values left out): integer-valued metrics print as integers (``44 (35,56)``), values
of moderate size with three significant digits, very large or small ones in two-digit
scientific notation (``1.3e+06 (1.0e+06,1.6e+06)``). Rows follow the study's order.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .load import Study, StudyLoadError

COUNT_METRICS = ("spike_count", "spike_count_unaligned", "steps_done")


def format_number(value: float, *, integer: bool) -> str:
    """One number of a cell (see the module docstring)."""
    if not np.isfinite(value):
        return str(value)
    if integer and float(value).is_integer():
        return str(int(value))
    magnitude = abs(value)
    if magnitude == 0 or 1e-2 <= magnitude < 1e3:
        return f"{value:.3g}"
    return f"{value:.1e}"


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """``(median, q25, q75)`` of the finite-or-inf values (NaN left out); NaNs if none."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return (np.nan, np.nan, np.nan)
    q25, median, q75 = np.percentile(data, [25, 50, 75])
    return (float(median), float(q25), float(q75))


def format_cell(values: Sequence[float], *, integer: bool = False) -> str:
    """``median (q25,q75)``; ``integer`` prints integral numbers without decimals."""
    median, q25, q75 = quartiles(values)
    if np.isnan(median):
        return "n/a"
    median_text, q25_text, q75_text = (format_number(v, integer=integer) for v in (median, q25, q75))
    return f"{median_text} ({q25_text},{q75_text})"


@dataclass(frozen=True)
class TableResult:
    """The formatted table (``cells``), the numbers behind it (``numbers``) and its
    Markdown text."""

    cells: pd.DataFrame
    numbers: pd.DataFrame
    markdown: str


def default_metrics(study: Study) -> list[str]:
    """Spike count and final loss for studies with events (Table 4/5), else the final
    loss and the problem's own final metrics (``final_*`` columns)."""
    if len(study.events):
        return ["spike_count", "final_loss"]
    return ["final_loss", *(c for c in study.summary.columns if c.startswith("final_") and c != "final_loss")]


def default_by(study: Study) -> list[str]:
    """Swept problem settings, then the control (studies with ``[controls]``), the
    optimizer, then swept hyperparameters."""
    controls = [c for c in ("control", "matched_to") if c in study.summary.columns]
    hparams = [c for c in study.swept_hparams if c not in controls]
    return [*study.swept_settings, *controls[:1], "optimizer", *controls[1:], *hparams]


def table(study: Study, *, metric: str | Sequence[str] | None = None, by: Sequence[str] | None = None) -> TableResult:
    """Median (IQR) of each metric per group of ``by``; failed runs are left out and the
    ``runs`` column counts the group's runs (and how many diverged)."""
    metrics = [metric] if isinstance(metric, str) else list(metric or default_metrics(study))
    by = list(by or default_by(study))
    summary = study.summary
    for column in [*metrics, *by]:
        if column not in summary.columns:
            raise StudyLoadError(f"column {column!r} is not in summary.csv; available: {', '.join(summary.columns)}")
    # A hyperparameter swept in one optimizer entry is blank for the others: its own group.
    summary = summary.assign(**{c: summary[c].astype(object).where(summary[c].notna(), "-") for c in by})
    runs = summary[summary["status"] != "failed"]
    # Rows in study order: each column's values ordered by first appearance in summary.csv.
    order = {c: list(dict.fromkeys(summary[c])) for c in by}
    keys = sorted(
        (tuple(k) for k in runs[by].drop_duplicates().itertuples(index=False)),
        key=lambda k: tuple(order[c].index(v) for c, v in zip(by, k)),
    )
    cells, numbers = [], []
    for key in keys:
        group = runs[np.logical_and.reduce([runs[c] == v for c, v in zip(by, key)])]
        diverged = int((group["status"] == "diverged").sum())
        count = f"{len(group)}" + (f" ({diverged} diverged)" if diverged else "")
        cell = dict(zip(by, key), runs=count)
        row = dict(zip(by, key), runs=len(group), diverged=diverged)
        for m in metrics:
            cell[m] = format_cell(group[m].to_numpy(float), integer=m in COUNT_METRICS)
            median, q25, q75 = quartiles(group[m].to_numpy(float))
            row.update({f"{m}_median": median, f"{m}_q25": q25, f"{m}_q75": q75})
        cells.append(cell)
        numbers.append(row)
    cells_df, numbers_df = pd.DataFrame(cells), pd.DataFrame(numbers)
    title = f"{study.name}: median (q25,q75) over runs"
    return TableResult(cells=cells_df, numbers=numbers_df, markdown=to_markdown(cells_df, title=title))


def to_markdown(frame: pd.DataFrame, *, title: str | None = None) -> str:
    """A GitHub-flavoured Markdown table (left-aligned, padded columns)."""
    header = [str(c) for c in frame.columns]
    rows = [[str(v) for v in row] for row in frame.itertuples(index=False)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    out = io.StringIO()
    if title:
        out.write(f"{title}\n\n")
    out.write(line(header) + "\n")
    out.write("| " + " | ".join("-" * w for w in widths) + " |\n")
    for r in rows:
        out.write(line(r) + "\n")
    return out.getvalue()


def write_table(study: Study, *, metric: str | Sequence[str] | None = None, by: Sequence[str] | None = None) -> TableResult:
    """:func:`table`, written to ``table.md`` and ``table.csv`` (numbers) in the study directory."""
    result = table(study, metric=metric, by=by)
    (study.path / "table.md").write_text(result.markdown, encoding="utf-8")
    result.numbers.to_csv(study.path / "table.csv", index=False, float_format="%.6g")
    return result
