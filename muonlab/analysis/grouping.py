"""How the plots of a study group its rows: panels (combinations of swept problem
settings), series (optimizers and their swept hyperparameters), per-step median bands,
and the study's :class:`~muonlab.analysis.style.StudyStyle`, all in study order."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from .load import Study
from .style import StudyStyle


def panels(study: Study, rows: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(title, rows) per combination of swept problem settings, in study order."""
    settings = study.swept_settings
    if not settings:
        yield study.problem, rows
        return
    for key, part in rows.groupby(settings, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        yield ", ".join(f"{c}={v}" for c, v in zip(settings, key)), part


def _float_digits(values: pd.Series) -> int:
    """Fewest significant digits (at least 3) that keep the distinct floats of
    ``values`` distinct when written with ``g`` (a matched lr is 0.0023655693306786504)."""
    distinct = {float(v) for v in values if isinstance(v, float) and pd.notna(v)}
    return next((d for d in range(3, 18) if len({f"{v:.{d}g}" for v in distinct}) == len(distinct)), 17)


def _setting(column: str, value: object, digits: int) -> str | None:
    """One swept setting in a series label: ``lr=0.00237``, the control's name (none for
    the plain treatment ``control=none``), ``matched to X``."""
    if column == "control":
        return None if value == "none" else str(value)
    if column == "matched_to":
        return f"matched to {value}"
    return f"{column}={value:.{digits}g}" if isinstance(value, float) else f"{column}={value}"


def series(study: Study, rows: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(label, rows) per optimizer (and swept hyperparameter values), in study order.
    Labels are the same for every subset of the study's rows (float digits are chosen
    on the whole summary)."""
    hparams = study.swept_hparams
    digits = {c: _float_digits(study.summary[c]) for c in hparams if c in study.summary.columns}
    for optimizer in study.optimizers:
        part = rows[rows["optimizer"] == optimizer]
        if part.empty:
            continue
        if not hparams:
            yield optimizer, part
            continue
        for key, sub in part.groupby(hparams, sort=False, dropna=False):
            key = key if isinstance(key, tuple) else (key,)
            settings = [_setting(c, v, digits.get(c, 3)) for c, v in zip(hparams, key) if pd.notna(v)]
            yield " ".join([optimizer, *(s for s in settings if s)]), sub


def study_style(study: Study) -> StudyStyle:
    """The study's colours: from its optimizer order and every series label of its
    summary, so that every figure of the study agrees."""
    labels: dict[str, list[str]] = {o: [] for o in study.optimizers}
    for label, part in series(study, study.summary):
        labels[str(part["optimizer"].iloc[0])].append(label)
    return StudyStyle(study.optimizers, labels)


def median_band(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Median and quartiles of ``column`` over runs at each step (NaN rows dropped)."""
    grouped = rows.dropna(subset=[column]).groupby("step")[column]
    return pd.DataFrame({"median": grouped.median(), "q25": grouped.quantile(0.25), "q75": grouped.quantile(0.75)})


def event_steps(study: Study) -> np.ndarray:
    """Sorted distinct steps of the study's events."""
    return np.sort(study.events["step"].unique()) if len(study.events) else np.array([], dtype=int)
