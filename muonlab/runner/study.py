"""Run a whole study into a directory (SPEC 5, 7): validate the output path, skip runs
finished by an earlier session (``--resume``), execute the cells of the rest on a
backend (:mod:`muonlab.runner.cells`), write each cell's results, and where it ran, as
it finishes."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .backends import Backend, LocalBackend
from .cells import describe_plan, plan_cells, single_cells, work_units
from .config import StudyConfig
from .controls import TUNING_HEADER, match_rows, match_table, resolve_matched_step, resolve_tuning
from .device import describe_device, resolve_device
from .config import RunConfig
from .outputs import StudyOutput, check_output_dir, csv_text, format_value, write_atomic
from .run import RunResult


@dataclass(frozen=True)
class StudyReport:
    """Counts of one ``run_study`` call."""

    out: Path
    total: int
    skipped: int
    statuses: dict[str, int]


def run_study(
    study: StudyConfig,
    out: str | Path,
    *,
    backend: Backend | None = None,
    resume: bool = False,
    progress: bool = True,
) -> StudyReport:
    """Run every run of ``study`` into ``out`` (see the module docstring).

    Raises :class:`~muonlab.runner.settings.ConfigError` before writing anything when
    ``out`` is unusable, the device is unavailable or the backend cannot start (an
    unreachable ``--scheduler``).
    """
    out = Path(out)
    check_output_dir(out, resume=resume, study=study)
    device = resolve_device(study.device)
    backend = backend if backend is not None else LocalBackend()
    statuses = {"done": 0, "diverged": 0, "failed": 0}
    # A backend holding resources (a cluster, a scheduler connection) is a context
    # manager, entered before the directory is created: an unreachable scheduler
    # writes nothing.
    with backend if isinstance(backend, AbstractContextManager) else nullcontext():
        # Matched-step controls are measured first; every study run computed on the way
        # is recorded below instead of being run again.
        study, tuning_rows = resolve_tuning(study, lambda configs: _execute(configs, study, backend))
        study, known, records = resolve_matched_step(study, lambda configs: _execute(configs, study, backend))
        output = StudyOutput(out, study, device=describe_device(device), resume=resume)
        output.manifest["cpu"]["run_threads"] = getattr(backend, "threads_per_worker", None)
        if tuning_rows:
            write_csv(out / "tuning.csv", TUNING_HEADER, tuning_rows)
        if records:
            write_csv(out / "matched_step.csv", *match_table(records))
            output.manifest["matched_step"] = match_rows(records)
        done = output.finished()
        for run_id, result in known.items():
            if run_id in output.order and run_id not in done:
                output.record(result)
                statuses[result.status] += 1
        done = output.finished()
        pending = [run for run in output.runs if run.run_id not in done]
        if study.batch_seeds:
            cells = [c for c in plan_cells(output.runs) if any(r.run_id not in done for r in c.configs)]
            output.manifest["batching"] = [cell.describe() for cell in cells]
            print(f"muonlab: {describe_plan(cells)}", file=sys.stderr)
            units = work_units(cells, frozenset(done))
        else:
            units = single_cells(pending)
        with tqdm(total=len(output.runs), initial=len(done), unit="run", disable=not progress, desc=study.name) as bar:
            for finished in backend.run_cells(units):
                # A batched cell trains all its seeds; only the missing ones are recorded.
                for result in output.record_cell(finished, skip=done):
                    statuses[result.status] += 1
                    bar.update(1)
    output.finish()
    return StudyReport(out=out, total=len(output.runs), skipped=len(done), statuses=statuses)


def _execute(configs: Sequence[RunConfig], study: StudyConfig, backend: Backend) -> list[RunResult]:
    """Results of ``configs`` in their order, run as the study runs them (seed batches
    when ``batch_seeds``)."""
    units = work_units(plan_cells(configs)) if study.batch_seeds else single_cells(configs)
    by_id = {r.run_id: r for finished in backend.run_cells(units) for r in finished.results}
    return [by_id[c.run_id] for c in configs]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A small table of the study directory (``tuning.csv``, ``matched_step.csv``)."""
    write_atomic(path, csv_text(header, ([format_value(v) for v in row] for row in rows)))
