"""Read a study directory (SPEC 5 files) into pandas (SPEC 6)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from muonlab.tomlcompat import tomllib

# summary.csv columns around the swept settings/hyperparameters (runner's layout).
IDENTITY = ("run_id", "problem", "optimizer", "seed")
FIRST_RESULT = "status"


class StudyLoadError(ValueError):
    """The directory is not a readable study directory (one line)."""


@dataclass(frozen=True)
class Study:
    """A loaded study: ``summary`` (one row per run, study order), ``steps`` (every
    logged row of every run, with the run's identity and swept columns joined in),
    ``events``, ``manifest`` (dict) and ``config`` (the study TOML as a dict)."""

    path: Path
    summary: pd.DataFrame
    steps: pd.DataFrame
    events: pd.DataFrame
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest.get("study", self.path.name))

    @property
    def problem(self) -> str:
        return str(self.summary["problem"].iloc[0]) if len(self.summary) else ""

    @property
    def swept(self) -> list[str]:
        """The swept settings and hyperparameters (the columns between ``seed`` and ``status``)."""
        return _swept(self.summary)

    @property
    def swept_settings(self) -> list[str]:
        """Swept problem settings (keys of the study's [problem] table)."""
        problem = self.config.get("problem")
        keys = set(problem) if isinstance(problem, dict) else set()
        return [c for c in self.swept if c in keys]

    @property
    def swept_hparams(self) -> list[str]:
        """Swept optimizer hyperparameters."""
        return [c for c in self.swept if c not in self.swept_settings]

    @property
    def optimizers(self) -> list[str]:
        """Optimizer labels in study order."""
        return list(dict.fromkeys(self.summary["optimizer"]))


def load_study(path: str | Path) -> Study:
    """Load the study directory ``path`` written by ``muonlab run``."""
    path = Path(path)
    summary_path = path / "summary.csv"
    if not summary_path.is_file():
        raise StudyLoadError(f"{path}: not a study directory (no summary.csv); run `muonlab run STUDY.toml --out {path}` first")
    summary = pd.read_csv(summary_path, dtype={"run_id": str, "optimizer": str, "problem": str, "status": str})
    events = pd.read_csv(path / "events.csv", dtype={"run_id": str, "kind": str, "detail": str})
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    config = tomllib.loads((path / "study.toml").read_text(encoding="utf-8"))
    frames = [
        pd.read_csv(path / "runs" / f"{run_id}.csv", dtype={"run_id": str})
        for run_id in summary["run_id"]
        if (path / "runs" / f"{run_id}.csv").is_file()
    ]
    steps = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run_id", "step", "loss"])
    identity = summary[[c for c in summary.columns if c in IDENTITY or c in _swept(summary)]]
    steps = steps.merge(identity, on="run_id", how="left")
    return Study(path=path, summary=summary, steps=steps, events=events, manifest=manifest, config=config)


def _swept(summary: pd.DataFrame) -> list[str]:
    columns = list(summary.columns)
    return columns[len(IDENTITY) : columns.index(FIRST_RESULT)]
