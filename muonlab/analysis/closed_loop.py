"""Event-triggered averages of the per-column clip (SPEC 11, T Fig. 11 per column).

Reads the ``c_J``, ``c_Jnext``, ``c_other`` columns of ``runs/*.csv``
(:mod:`muonlab.runner.closed_loop`) and the event steps of ``events.csv``. For a run
with event period K and offsets ``k`` in ``[-K/2, K/2)``:

- ``injected``: the injected columns' mean ``c_j`` around their event e (``c_Jnext``
  before e, when they are the next event's columns, ``c_J`` from e on);
- ``other``: ``c_other`` around e (the columns of neither the current nor the next event);
- ``placebo``: ``c_Jnext`` around the half-way step ``p = e + K/2`` (columns about to be
  injected, with no event at p).

Each run's trace is the mean over its events at each logged offset; :func:`response`
reads per run the ``drop`` (last value before the step minus the minimum from the step
on) and the ``lag`` (offset of that minimum).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .load import Study

KINDS = ("injected", "other", "placebo")


def event_triggered(study: Study) -> pd.DataFrame:
    """Per run, kind and offset ``k``: the mean over events of the column scale ``c``.
    Columns: the run's identity and swept columns, ``kind``, ``k``, ``c``. Empty when no
    run logged column scales."""
    steps = study.steps
    if "c_J" not in steps.columns or study.events.empty:
        return pd.DataFrame(columns=["run_id", "kind", "k", "c"])
    identity = [c for c in steps.columns if c in study.summary.columns and c not in ("loss",)]
    out = []
    for run_id, rows in steps[steps["c_J"].notna() | steps["c_Jnext"].notna()].groupby("run_id", sort=False):
        events = np.sort(study.events.loc[study.events["run_id"] == run_id, "step"].unique())
        if events.size < 2:
            continue
        period = int(np.median(np.diff(events)))
        half = period // 2
        rows = rows.set_index("step")
        for kind in KINDS:
            centres = events + half if kind == "placebo" else events
            frames = []
            for centre in centres:
                k = rows.index.to_numpy() - centre
                inside = (k >= -half) & (k < half)
                if kind == "injected":
                    values = np.where(k < 0, rows["c_Jnext"], rows["c_J"])
                else:
                    values = (rows["c_other"] if kind == "other" else rows["c_Jnext"]).to_numpy()
                if inside.any() and k[inside].min() < 0 and k[inside].max() >= 0:
                    frames.append(pd.Series(np.asarray(values)[inside], index=k[inside]))
            if frames:
                mean = pd.concat(frames, axis=1).mean(axis=1)
                out.append(pd.DataFrame({"run_id": run_id, "kind": kind, "k": mean.index, "c": mean.to_numpy()}))
    if not out:
        return pd.DataFrame(columns=["run_id", "kind", "k", "c"])
    traces = pd.concat(out, ignore_index=True)
    first = steps.drop_duplicates("run_id").set_index("run_id")[[c for c in identity if c != "run_id"]]
    return traces.join(first, on="run_id")


def response(traces: pd.DataFrame) -> pd.DataFrame:
    """Per run and kind: ``before`` (last value at k < 0), ``drop`` (``before`` minus the
    minimum at k >= 0) and ``lag`` (the k of that minimum)."""
    rows = []
    for (run_id, kind), trace in traces.groupby(["run_id", "kind"], sort=False):
        trace = trace.sort_values("k")
        before = trace[trace["k"] < 0]["c"].iloc[-1]
        after = trace[trace["k"] >= 0]
        i = int(np.argmin(after["c"].to_numpy()))
        rows.append({"run_id": run_id, "kind": kind, "before": float(before),
                     "drop": float(before - after["c"].iloc[i]), "lag": int(after["k"].iloc[i])})
    frame = pd.DataFrame(rows, columns=["run_id", "kind", "before", "drop", "lag"])
    identity = traces.drop_duplicates("run_id").drop(columns=["kind", "k", "c"]).set_index("run_id")
    return frame.join(identity, on="run_id")


def response_summary(study: Study) -> pd.DataFrame:
    """Median (over seeds) ``drop`` and ``lag`` per swept cell, optimizer and kind."""
    per_run = response(event_triggered(study))
    by = [*study.swept_settings, *(["control"] if "control" in per_run.columns else []), "optimizer", "kind"]
    return per_run.groupby(by, sort=False)[["before", "drop", "lag"]].median().reset_index()
