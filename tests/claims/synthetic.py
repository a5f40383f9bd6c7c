"""Shared pieces of the claims tests: a tiny studies directory (validated, never run)
and synthetic study directories whose per-seed values are known."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from muonlab.analysis.load import Study

STUDY = """
name = "toy"
seeds = 10
steps = 20
[problem]
name = "awbt"
d = 8
fix_V = [true, false]
[[optimizers]]
name = "normuon"
label = "A"
[[optimizers]]
name = "trasmuon-noclip"
label = "B"
"""

BASE_CLAIM = {
    "id": "toy-claim",
    "source": "synthetic",
    "statement": "A ends lower than B.",
    "study": "toy.toml",
    "quick_study": "toy.toml",
    "treatment": "A",
    "control": "B",
    "metric": "final_loss",
    "where": {"fix_V": True},
}


def toml_text(table: Mapping[str, object]) -> str:
    """A flat claim table as TOML (values: strings, numbers, booleans, arrays, inline tables)."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)
    return "".join(f"{k} = {value(v)}\n" for k, v in table.items())


def synthetic_study(path: Path, values: Mapping[tuple[str, bool], np.ndarray], metric: str = "final_loss") -> Study:
    """A Study whose ``metric`` for label and fix_V over seeds 0..n-1 is ``values``."""
    rows = []
    for (label, fix_v), per_seed in values.items():
        for seed, v in enumerate(per_seed):
            rows.append({"run_id": f"{label}{fix_v}{seed}", "problem": "awbt", "optimizer": label, "seed": seed,
                         "fix_V": fix_v, "status": "done", metric: float(v)})
    summary = pd.DataFrame(rows)
    steps = pd.DataFrame(columns=["run_id", "step", "loss"])
    return Study(path=path, summary=summary, steps=steps, events=pd.DataFrame(), manifest={"study": "toy"},
                 config={"problem": {"name": "awbt", "fix_V": [True, False]}})
