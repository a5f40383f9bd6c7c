"""The study directory (SPEC 5): ``study.toml``, ``manifest.json``, ``runs/<run_id>.csv``,
``summary.csv``, ``events.csv``.

Every file is written atomically (temp file + ``os.replace``). ``summary.csv``,
``events.csv`` and ``manifest.json`` are rewritten in study order after each finished
run, so a killed study loses no finished run and ``--resume`` reproduces the files of an
uninterrupted study byte for byte. Floats are written with ``repr`` (shortest round
trip, deterministic); CSV files hold nothing time-dependent (times are in the manifest).
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

import muonlab

from .cells import FinishedCell
from .config import RunConfig, StudyConfig, parse_study
from .controls import control_columns
from .run import RunResult
from .settings import ConfigError
from .device import describe_cpu
from .spikes import SPIKE_COLUMNS, describe_rule

SUMMARY_HEAD = ("run_id", "problem", "optimizer", "seed")
SUMMARY_STATUS = ("status", "steps_done", "diverged_step", "final_loss", "best_loss")
EVENT_COLUMNS = ("run_id", "step", "kind", "detail")
# Marks the temporary files of write_atomic (".<name>.tmp<pid>").
TMP_MARK = ".tmp"


def format_value(value: Any) -> str:
    """Deterministic text of a CSV cell: the shortest round-trip text of a float (of a
    float32 for float32 values), ``nan``/``inf`` spelled as pandas reads them, empty for
    None."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "True" if value else "False"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.float32):
        # A float32 value's own shortest round-trip text ("0.01", not 0.009999999776...).
        return str(value)
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory + rename."""
    tmp = path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def remove_temporaries(directory: Path) -> None:
    """Delete the temporary files of writes a killed process left unfinished in
    ``directory`` (their targets still hold the previous complete version)."""
    for tmp in directory.glob(f".*{TMP_MARK}*"):
        tmp.unlink(missing_ok=True)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def check_output_dir(out: Path, *, resume: bool, study: StudyConfig) -> None:
    """Refuse an output path that is a file, or an existing non-empty directory without
    ``resume``; with ``resume``, refuse a directory made by a different study (other
    runs, labels, [spikes] rule or [diagnostics]): its results would be mixed with the
    new ones."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out: {out} is a file; give a directory path")
    existing = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"--out: cannot create {out}: {existing} is not a writable directory")
    if out.is_dir() and any(out.iterdir()):
        if not resume:
            raise ConfigError(f"--out: {out} already exists and is not empty; pass --resume to continue it or choose a new directory")
        manifest = out / "manifest.json"
        if manifest.is_file():
            previous = json.loads(manifest.read_text(encoding="utf-8")).get("spike_rule")
            if previous != describe_rule(dict(study.spikes)):
                raise ConfigError(f"--resume: {out} was made with a different [spikes] rule; use a new --out")
        difference = study_difference(out / "study.toml", study)
        if difference:
            raise ConfigError(f"--resume: {out} holds a different study ({difference}); resume it with its own study file, {out / 'study.toml'}, or use a new --out")


def _run_keys(study: StudyConfig) -> list[tuple[Any, ...]]:
    """What a resumed study must share with the directory: each run's id (problem,
    settings, steps, optimizer, hyperparameters, seed), label and observers."""
    return [(r.run_id, r.label, r.spikes, r.diagnostics) for r in study.runs()]


def study_difference(previous_toml: Path, study: StudyConfig) -> str:
    """Empty when ``previous_toml`` (a directory's ``study.toml``) is the same study as
    ``study`` (whatever its device), else a short description of the difference."""
    if not previous_toml.is_file():
        return ""
    text = previous_toml.read_text(encoding="utf-8")
    try:
        previous = parse_study(text, default_name=study.name, device=study.device)
    except ConfigError as exc:
        return f"its study.toml no longer validates: {exc}"
    old, new = _run_keys(previous), _run_keys(study)
    if old == new:
        return ""
    old_ids, new_ids = {k[0] for k in old}, {k[0] for k in new}
    if old_ids != new_ids:
        return f"{len(new_ids - old_ids)} of its {len(new_ids)} runs are not in the directory's study, which has {len(old_ids)}"
    return "same runs with other labels, [spikes] or [diagnostics]"


def git_revision() -> str | None:
    """The git commit of the muonlab source tree, if it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(muonlab.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class StudyOutput:
    """Writes one study directory; :meth:`record` is called once per finished run."""

    def __init__(self, out: Path, study: StudyConfig, *, device: str, resume: bool) -> None:
        self.out = out
        self.study = study
        self.runs: tuple[RunConfig, ...] = study.runs()
        self.order = {run.run_id: i for i, run in enumerate(self.runs)}
        self.columns = (
            *SUMMARY_HEAD,
            *study.swept_settings(),
            *study.swept_schedule(),
            *study.swept_hparams(),
            *control_columns(study),
            *SUMMARY_STATUS,
            *SPIKE_COLUMNS,
            *study.kind.finals,
        )
        self.summary: dict[str, list[str]] = {}
        self.events: dict[str, list[list[str]]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        # Where each executed cell ran, keyed by its first run (manifest ``cells``).
        self.cells: dict[str, dict[str, Any]] = {}
        self.manifest: dict[str, Any] = {
            "study": study.name,
            "muonlab": muonlab.__version__,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "device": device,
            "cpu": describe_cpu(),
            "git_revision": git_revision(),
            "started": _now(),
            "finished": None,
            "spike_rule": describe_rule(dict(study.spikes)),
            "total_runs": len(self.runs),
        }
        try:
            (out / "runs").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--out: cannot create {out}: {exc.strerror or exc}") from None
        if resume:
            for directory in (out, out / "runs"):
                remove_temporaries(directory)
            self._load_previous()
        write_atomic(out / "study.toml", study.source)
        self._rewrite()

    def _load_previous(self) -> None:
        """Keep the finished runs of an earlier session (``done``/``diverged`` with their
        CSV present); ``failed`` runs are run again."""
        manifest_path = self.out / "manifest.json"
        if not manifest_path.is_file():
            return
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        self.manifest["started"] = manifest.get("started", self.manifest["started"])
        keep = {
            e["run_id"]: e
            for e in manifest.get("runs", [])
            if e["run_id"] in self.order
            and e["status"] in ("done", "diverged")
            and (self.out / "runs" / f"{e['run_id']}.csv").is_file()
        }
        summary_path, events_path = self.out / "summary.csv", self.out / "events.csv"
        rows = read_csv_rows(summary_path) if summary_path.is_file() else []
        for row in rows:
            if row["run_id"] in keep:
                self.summary[row["run_id"]] = [row.get(c, "") for c in self.columns]
        for row in read_csv_rows(events_path) if events_path.is_file() else []:
            if row["run_id"] in keep:
                self.events.setdefault(row["run_id"], []).append([row[c] for c in EVENT_COLUMNS])
        self.entries = {k: v for k, v in keep.items() if k in self.summary}
        self.cells = {e["run_ids"][0]: e for e in manifest.get("cells", []) if set(e["run_ids"]) <= self.entries.keys()}

    def finished(self) -> set[str]:
        """Run ids already recorded (skipped by ``--resume``)."""
        return set(self.entries)

    def record(self, result: RunResult) -> None:
        """Write the run's CSV, then rewrite summary, events and manifest."""
        self._store(result)
        self._rewrite()

    def record_cell(self, finished: FinishedCell, *, skip: set[str]) -> list[RunResult]:
        """Record where ``finished`` ran and its runs not in ``skip`` (finished earlier;
        a batched cell trains all its seeds), then rewrite summary, events and manifest
        once. Returns the runs recorded."""
        entry = finished.describe()
        self.cells = {k: e for k, e in self.cells.items() if not set(e["run_ids"]) & set(entry["run_ids"])}
        self.cells[entry["run_ids"][0]] = entry
        recorded = [result for result in finished.results if result.run_id not in skip]
        for result in recorded:
            self._store(result)
        self._rewrite()
        return recorded

    def _store(self, result: RunResult) -> None:
        """Write the run's CSV and keep its summary row, events and manifest entry."""
        run_id = result.run_id
        if result.status != "failed":
            self._write_run_csv(result)
        for name, columns in result.artifacts.items():
            self._write_artifact_csv(result.run_id, name, columns)
        self.summary[run_id] = self._summary_row(result)
        self.events[run_id] = [[run_id, str(e.step), e.kind, e.detail] for e in result.events]
        entry: dict[str, Any] = {
            "run_id": run_id,
            "optimizer": result.config.label,
            "registry_name": result.config.optimizer,
            "seed": result.config.seed,
            "status": result.status,
            "steps_done": result.steps_done,
            "diverged_step": result.diverged_step,
        }
        if result.error is not None:
            entry["error"] = result.error
        self.entries[run_id] = entry

    def finish(self) -> None:
        self.manifest["finished"] = _now()
        self._rewrite()

    def _write_run_csv(self, result: RunResult) -> None:
        columns = result.columns
        header = ["run_id", *columns]
        n_rows = len(columns["step"])
        rows = ([result.run_id, *(format_value(columns[c][i]) for c in columns)] for i in range(n_rows))
        write_atomic(self.out / "runs" / f"{result.run_id}.csv", csv_text(header, rows))

    def _write_artifact_csv(self, run_id: str, name: str, columns: dict[str, np.ndarray]) -> None:
        """``runs/<run_id>.<name>.csv``: an end-of-run table of a diagnostic (e.g. the
        ``[diagnostics] spectrum`` Hessian density)."""
        n_rows = len(next(iter(columns.values())))
        rows = ([run_id, *(format_value(v[i]) for v in columns.values())] for i in range(n_rows))
        write_atomic(self.out / "runs" / f"{run_id}.{name}.csv", csv_text(["run_id", *columns], rows))

    def _summary_row(self, result: RunResult) -> list[str]:
        config = result.config
        values: dict[str, Any] = {
            "run_id": result.run_id,
            "problem": config.problem,
            "optimizer": config.label,
            "seed": config.seed,
            **dict(config.settings),
            **{"schedule" if k == "name" else k: v for k, v in config.schedule},
            **dict(config.hparams),
            "status": result.status,
            "steps_done": result.steps_done,
            "diverged_step": result.diverged_step,
            "control": config.control,
            "matched_to": config.matched_to,
            **result.summary,
        }
        return [_format_cell(values.get(c)) for c in self.columns]

    def _sorted(self, mapping: Mapping[str, Any]) -> list[Any]:
        return [mapping[k] for k in sorted(mapping, key=self.order.__getitem__)]

    def _rewrite(self) -> None:
        write_atomic(self.out / "summary.csv", csv_text(self.columns, self._sorted(self.summary)))
        events = [row for rows in self._sorted(self.events) for row in rows]
        write_atomic(self.out / "events.csv", csv_text(EVENT_COLUMNS, events))
        manifest = {**self.manifest, "runs": self._sorted(self.entries)}
        if self.cells:
            manifest["cells"] = self._sorted(self.cells)
        write_atomic(self.out / "manifest.json", json.dumps(manifest, indent=2) + "\n")


def _format_cell(value: Any) -> str:
    # Tuple hyperparameters (betas) are written as "0.9 0.999".
    if isinstance(value, tuple):
        return " ".join(format_value(v) for v in value)
    return format_value(value)
