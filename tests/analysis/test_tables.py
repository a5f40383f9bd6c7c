"""Median (IQR) tables (SPEC 6, T Table 4 format) on known numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from muonlab.analysis import format_cell, format_number, quartiles, table, to_markdown
from muonlab.analysis.load import Study, StudyLoadError


def test_quartiles_match_numpy_linear_definition() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0, float("nan")]
    # independent: sorted finite values 1,2,3,4,10 -> positions 0..4; q25 at 1, q50 at 2, q75 at 3
    assert quartiles(values) == (3.0, 2.0, 4.0)
    assert quartiles([5.0, 7.0]) == (6.0, 5.5, 6.5)
    assert all(np.isnan(quartiles([float("nan")])))


def test_table4_formats() -> None:
    # counts: Table 4's "44 (35,56)"
    assert format_cell([35, 35, 44, 56, 56], integer=True) == "44 (35,56)"
    assert format_cell([1, 2], integer=True) == "1.5 (1.25,1.75)"
    # large floats: two significant digits, scientific
    assert format_cell([1.02e6, 1.3e6, 1.62e6]) == "1.3e+06 (1.2e+06,1.5e+06)"
    assert format_number(2.0e5, integer=False) == "2.0e+05"
    assert format_number(1.2e-4, integer=False) == "1.2e-04"
    # moderate floats: three significant digits
    assert format_number(0.8571, integer=False) == "0.857"
    assert format_number(12.5, integer=False) == "12.5"
    assert format_cell([float("nan")]) == "n/a"


def _study(summary: pd.DataFrame, events: int) -> Study:
    return Study(
        path=Path("t"),
        summary=summary,
        steps=pd.DataFrame(),
        events=pd.DataFrame({"run_id": ["x"] * events, "step": range(events)}),
        manifest={"study": "t"},
        config={"problem": {"name": "awbt", "fix_V": [True, False]}},
    )


def test_table_groups_in_study_order_with_known_medians() -> None:
    rows = []
    for fix_v in (True, False):
        for opt, base in (("NorMuon", 40), ("TrasMuon", 20)):
            for seed in range(4):
                rows.append(
                    dict(run_id=f"{opt}{fix_v}{seed}", problem="awbt", optimizer=opt, seed=seed, fix_V=fix_v,
                         status="diverged" if (opt, fix_v, seed) == ("TrasMuon", False, 3) else "done",
                         spike_count=base + seed * (1 if fix_v else 2), final_loss=10.0 ** (seed + 3))
                )  # fmt: skip
    summary = pd.DataFrame(rows)
    result = table(_study(summary, events=3))
    cells = result.cells
    assert list(cells.columns) == ["fix_V", "optimizer", "runs", "spike_count", "final_loss"]
    assert [(r.fix_V, r.optimizer) for r in cells.itertuples()] == [
        (True, "NorMuon"), (True, "TrasMuon"), (False, "NorMuon"), (False, "TrasMuon")
    ]  # fmt: skip
    # NorMuon fix_V=True: counts 40,41,42,43 -> median 41.5, q25 40.75, q75 42.25
    assert cells.iloc[0]["spike_count"] == "41.5 (40.8,42.2)"
    # final losses 1e3..1e6: median 5.5e4, q25 7.75e3, q75 3.25e5
    assert cells.iloc[0]["final_loss"] == "5.5e+04 (7.8e+03,3.2e+05)"
    assert cells.iloc[3]["runs"] == "4 (1 diverged)"
    assert result.numbers.iloc[0]["spike_count_median"] == pytest.approx(41.5)
    # by optimizer first
    by_opt = table(_study(summary, events=3), metric="spike_count", by=["optimizer", "fix_V"]).cells
    assert [(r.optimizer, r.fix_V) for r in by_opt.itertuples()] == [
        ("NorMuon", True), ("NorMuon", False), ("TrasMuon", True), ("TrasMuon", False)
    ]  # fmt: skip
    assert "| fix_V | optimizer" in result.markdown


def test_markdown_layout() -> None:
    text = to_markdown(pd.DataFrame({"a": ["x", "long value"], "b": ["1 (0,2)", "3"]}))
    assert text.splitlines() == [
        "| a          | b       |",
        "| ---------- | ------- |",
        "| x          | 1 (0,2) |",
        "| long value | 3       |",
    ]


def _lr_sweep_study() -> Study:
    """AdamW and TrasMuon sweep lr over shared values, in an order that is not sorted
    (the PINN lr sweep); a third entry sweeps nothing (its lr is blank in summary.csv)."""
    rows = []
    sweeps = (("AdamW", [5e-3, 1.25e-3]), ("TrasMuon", [3.125e-4, 5e-3, 1.25e-3]), ("SGD", [None]))
    for opt, lrs in sweeps:
        for lr in lrs:
            for seed in range(3):
                # TrasMuon lr=5e-3: seed 0 diverged, seed 1 failed; SGD: every seed failed
                status = {("TrasMuon", 5e-3, 0): "diverged", ("TrasMuon", 5e-3, 1): "failed"}.get((opt, lr, seed), "done")
                status = "failed" if opt == "SGD" else status
                final = float("nan") if status != "done" else 1.0 + seed
                rows.append(dict(run_id=f"{opt}{lr}{seed}", problem="awbt", optimizer=opt, seed=seed, lr=lr,
                                 status=status, final_loss=final))
    return Study(path=Path("t"), summary=pd.DataFrame(rows), steps=pd.DataFrame(), events=pd.DataFrame({"run_id": []}),
                 manifest={"study": "t"},
                 config={"problem": {"name": "awbt"}, "optimizers": [{"name": "adamw", "label": "AdamW"},
                         {"name": "trasmuon", "label": "TrasMuon"}, {"name": "sgd", "label": "SGD"}]})


def test_rows_follow_the_optimizer_entries_then_ascending_swept_values() -> None:
    cells = table(_lr_sweep_study()).cells
    assert [(r.optimizer, r.lr) for r in cells.itertuples()] == [
        ("AdamW", 1.25e-3), ("AdamW", 5e-3),
        ("TrasMuon", 3.125e-4), ("TrasMuon", 1.25e-3), ("TrasMuon", 5e-3),
        ("SGD", "-"),
    ]  # fmt: skip


def test_failed_and_diverged_runs_are_counted_not_dropped() -> None:
    result = table(_lr_sweep_study())
    rows = {(r.optimizer, r.lr): r for r in result.cells.itertuples()}
    assert rows[("TrasMuon", 5e-3)].runs == "3 (1 diverged, 1 failed)"
    # the median is over the runs that did not fail and have a final loss: seed 2 only
    assert rows[("TrasMuon", 5e-3)].final_loss == "3 (3,3)"
    assert rows[("SGD", "-")].runs == "3 (3 failed)" and rows[("SGD", "-")].final_loss == "n/a"
    numbers = result.numbers.set_index(["optimizer", "lr"])
    assert numbers.loc[("TrasMuon", 5e-3), ["runs", "diverged", "failed"]].tolist() == [3, 1, 1]
    assert numbers["runs"].sum() == len(_lr_sweep_study().summary)


def test_a_non_numeric_metric_is_a_one_line_error_naming_the_numeric_columns() -> None:
    with pytest.raises(StudyLoadError, match=r"^--metric: 'optimizer' is not a numeric column; numeric columns: lr, final_loss$"):
        table(_lr_sweep_study(), metric="optimizer")
