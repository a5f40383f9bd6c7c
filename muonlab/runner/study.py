"""Run a whole study into a directory (SPEC 5, 7): validate the output path, skip runs
finished by an earlier session (``--resume``), run the rest on a backend, write each
result as it arrives."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .backends import Backend, LocalBackend
from .batched import describe_plan, plan_cells, run_cells
from .config import StudyConfig
from .device import describe_device, resolve_device
from .outputs import StudyOutput, check_output_dir


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
    # A backend holding resources (a cluster, a scheduler connection) is a context
    # manager, entered before the directory is created: an unreachable scheduler
    # writes nothing.
    with backend if isinstance(backend, AbstractContextManager) else nullcontext():
        output = StudyOutput(out, study, device=describe_device(device), resume=resume)
        output.manifest["cpu"]["run_threads"] = getattr(backend, "threads_per_worker", None)
        done = output.finished()
        pending = [run for run in output.runs if run.run_id not in done]
        statuses = {"done": 0, "diverged": 0, "failed": 0}
        if study.batch_seeds:
            cells = [c for c in plan_cells(output.runs) if any(r.run_id not in done for r in c.configs)]
            output.manifest["batching"] = [cell.describe() for cell in cells]
            print(f"muonlab: {describe_plan(cells)}", file=sys.stderr)
            results = run_cells(cells, backend, skip=frozenset(done))
        else:
            results = backend.run_all(pending)
        with tqdm(total=len(output.runs), initial=len(done), unit="run", disable=not progress, desc=study.name) as bar:
            for result in results:
                output.record(result)
                statuses[result.status] += 1
                bar.update(1)
    output.finish()
    return StudyReport(out=out, total=len(output.runs), skipped=len(done), statuses=statuses)
