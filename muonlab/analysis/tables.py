"""Median (q25, q75) tables formatted like TrasMuon Table 4 (SPEC 6).

A cell is ``median (q25,q75)`` over the runs of a group (linear-interpolated quantiles,
NaN values left out): integer-valued metrics print as integers (``44 (35,56)``), values
of moderate size with three significant digits, very large or small ones in two-digit
scientific notation (``1.3e+06 (1.0e+06,1.6e+06)``).

Rows follow the study: optimizers in the order of its ``[[optimizers]]`` entries, swept
values ascending (a non-numeric value, and the ``-`` of an entry that does not sweep the
key, in order of first appearance after the numbers). Every run is counted in the
``runs`` column (``8 (2 diverged, 1 failed)``); the metrics are over the runs that did
not fail.
"""

from __future__ import annotations

import io
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

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


def numeric_columns(study: Study) -> list[str]:
    """The columns of ``summary.csv`` a table can summarize."""
    return [c for c in study.summary.columns if pd.api.types.is_numeric_dtype(study.summary[c]) and c != "seed"]


def check_columns(study: Study, metrics: Sequence[str], by: Sequence[str]) -> None:
    """:class:`StudyLoadError` naming a column that is missing, or a metric that is not numeric."""
    summary = study.summary
    for column in [*metrics, *by]:
        if column not in summary.columns:
            raise StudyLoadError(f"column {column!r} is not in summary.csv; available: {', '.join(summary.columns)}")
    for column in metrics:
        if column not in numeric_columns(study):
            raise StudyLoadError(f"--metric: {column!r} is not a numeric column; numeric columns: {', '.join(numeric_columns(study))}")


def row_order(study: Study, summary: pd.DataFrame, by: Sequence[str]) -> dict[str, dict[Hashable, tuple[int, float]]]:
    """Per grouping column, each value's sort key: the ``optimizer`` in study order,
    numbers ascending, anything else after them in order of first appearance."""
    order: dict[str, dict[Hashable, tuple[int, float]]] = {}
    for column in by:
        values = list(dict.fromkeys(summary[column]))
        if column == "optimizer":
            labels = [*study_labels(study), *values]
            order[column] = {v: (0, float(labels.index(v))) for v in values}
            continue
        keys: dict[Hashable, tuple[int, float]] = {}
        for i, v in enumerate(values):
            number = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
            keys[v] = (0, float(number)) if not isinstance(v, (bool, np.bool_)) and pd.notna(number) else (1, float(i))
        order[column] = keys
    return order


def study_labels(study: Study) -> list[str]:
    """The optimizer labels of the study's ``[[optimizers]]`` entries, in file order."""
    entries = study.config.get("optimizers", [])
    return [str(e.get("label", e.get("name"))) for e in entries if isinstance(e, dict)]


def runs_cell(total: int, diverged: int, failed: int) -> str:
    """``8``, ``8 (2 diverged)``, ``8 (2 diverged, 1 failed)``."""
    notes = [f"{n} {what}" for n, what in ((diverged, "diverged"), (failed, "failed")) if n]
    return f"{total}" + (f" ({', '.join(notes)})" if notes else "")


def table(study: Study, *, metric: str | Sequence[str] | None = None, by: Sequence[str] | None = None) -> TableResult:
    """Median (IQR) of each metric per group of ``by`` over the runs that did not fail;
    the ``runs`` column counts every run of the group and how many diverged or failed."""
    metrics = [metric] if isinstance(metric, str) else list(metric or default_metrics(study))
    by = list(by or default_by(study))
    check_columns(study, metrics, by)
    summary = study.summary
    # A hyperparameter swept in one optimizer entry is blank for the others: its own group.
    summary = summary.assign(**{c: summary[c].astype(object).where(summary[c].notna(), "-") for c in by})
    order = row_order(study, summary, by)
    keys = sorted(
        (tuple(k) for k in summary[by].drop_duplicates().itertuples(index=False)),
        key=lambda k: tuple(order[c][v] for c, v in zip(by, k)),
    )
    cells, numbers = [], []
    for key in keys:
        everyone = summary[np.logical_and.reduce([summary[c] == v for c, v in zip(by, key)])]
        group = everyone[everyone["status"] != "failed"]
        diverged = int((group["status"] == "diverged").sum())
        failed = len(everyone) - len(group)
        cell = dict(zip(by, key), runs=runs_cell(len(everyone), diverged, failed))
        row = dict(zip(by, key), runs=len(everyone), diverged=diverged, failed=failed)
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
    """:func:`table`, written to ``table.md`` and ``table.csv`` in the study directory."""
    result = table(study, metric=metric, by=by)
    save_table(result, study.path)
    return result


def save_table(result: TableResult, out: Path) -> None:
    """Write ``table.md`` (the Markdown) and ``table.csv`` (the numbers) into ``out``."""
    (out / "table.md").write_text(result.markdown, encoding="utf-8")
    result.numbers.to_csv(out / "table.csv", index=False, float_format="%.6g")
