"""Median (IQR) tables (SPEC 6, T Table 4 format) on known numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from muonlab.analysis import format_cell, format_number, quartiles, table, to_markdown
from muonlab.analysis.load import Study


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
