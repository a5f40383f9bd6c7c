"""Per-seed values of a claim's metric, read from a loaded study directory.

- a summary column: the run's value (one run per label and seed after ``where``);
- ``steps.median.COL`` / ``steps.mean.COL``: the median / mean of the logged column over
  the run's logged steps (NaN entries left out);
- ``steps.event_mean.COL`` / ``steps.placebo_mean.COL``: the mean of the logged column
  at event steps (``event`` = 1) / at placebo steps half-way between consecutive events
  (T Fig. 11's event-triggered average and its placebo);
- ``spread.COL``: per seed, ``log10(max / min)`` of COL over the label's runs (its swept
  lr / eta_max grid); a diverged run (NaN) counts as the worst finite value of COL at
  that seed over every run of the selection, so diverging is maximal sensitivity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from muonlab.analysis.load import Study, StudyLoadError


def select(summary: pd.DataFrame, where: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``summary`` whose settings equal ``where`` (a setting that is not
    swept has its one value for every run, so it selects everything); in a study with
    controls, the runs with ``control = "none"`` unless ``where`` names a control."""
    mask = np.ones(len(summary), dtype=bool)
    where = {"control": "none", **where} if "control" in summary.columns else dict(where)
    for key, value in where.items():
        if key == "matched_to":
            mask &= (summary[key].fillna("") == value).to_numpy()
            continue
        if key in summary.columns:
            mask &= (summary[key] == value).to_numpy()
    return summary[mask]


def _per_run(study: Study, runs: pd.DataFrame, metric: str) -> pd.Series:
    """The metric of each run in ``runs`` (index: run_id)."""
    parts = metric.split(".")
    if parts[0] == "steps":
        _, how, column = parts
        if column not in study.steps.columns:
            raise StudyLoadError(f"{study.path}: no logged column {column!r} in runs/*.csv")
        logged = study.steps[study.steps["run_id"].isin(runs["run_id"])]
        if how in ("event_mean", "placebo_mean"):
            per_run = logged.groupby("run_id")[["step", "event", column]].apply(
                lambda rows: _at_events(rows, column, placebo=how == "placebo_mean"))
        else:
            per_run = logged.groupby("run_id")[column].agg(how)
        return per_run.reindex(runs["run_id"])
    return runs.set_index("run_id")[parts[-1]].astype(float)


def _at_events(rows: pd.DataFrame, column: str, *, placebo: bool) -> float:
    """Mean of ``column`` at the run's event steps, or at the logged steps nearest to
    half-way between consecutive events (placebo)."""
    steps = rows["step"].to_numpy()
    events = steps[rows["event"].to_numpy() > 0]
    if placebo:
        wanted = (events[:-1] + events[1:]) // 2
        index = np.searchsorted(steps, wanted).clip(0, len(steps) - 1)
    else:
        index = np.searchsorted(steps, events)
    values = rows[column].to_numpy(float)[index]
    return float(np.nanmean(values)) if values.size else float("nan")


def seed_values(study: Study, label: str, metric: str, where: Mapping[str, Any]) -> pd.Series:
    """Per-seed values (index: seed, sorted) of ``metric`` for the runs of ``label``."""
    selection = select(study.summary, where)
    runs = selection[selection["optimizer"] == label]
    if runs.empty:
        raise StudyLoadError(f"{study.path}: no runs of {label!r} with {dict(where)}")
    values = _per_run(study, runs, metric).to_numpy(dtype=float)
    frame = pd.DataFrame({"seed": runs["seed"].to_numpy(), "value": values})
    if metric.startswith("spread."):
        worst = _per_run(study, selection, metric).groupby(selection["seed"].to_numpy()).max()
        frame["value"] = frame["value"].fillna(frame["seed"].map(worst))
        return frame.groupby("seed")["value"].agg(lambda v: float(np.log10(v.max() / v.min()))).sort_index()
    if frame["seed"].duplicated().any():
        raise StudyLoadError(f"{study.path}: {label!r} has several runs per seed with {dict(where)}; "
                             "select one with `where` or use a spread.* metric")
    return frame.set_index("seed")["value"].sort_index()


def aligned(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The values of two per-seed series on their common seeds."""
    seeds = sorted(set(a.index) & set(b.index))
    return a[seeds].to_numpy(float), b[seeds].to_numpy(float), seeds
