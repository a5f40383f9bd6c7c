"""``muonlab claims``: run each claim's study (resuming finished runs), evaluate the
set, write the report."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from muonlab.analysis import load_study, plot_study
from muonlab.runner import load_study_config, run_study
from muonlab.runner.backends import Backend

from .cost import step_times
from .evaluate import ClaimResult, evaluate_cost_claim, evaluate_study_claim, judge
from .report import RunInfo, write_report
from .schema import Claim, ClaimError


@dataclass(frozen=True)
class ClaimsRun:
    results: list[ClaimResult]
    paths: list[Path]
    seconds: float


def select_claims(claims: Sequence[Claim], only: str | None) -> list[Claim]:
    """``only`` (an id) and the controls it names, or every claim."""
    if only is None:
        return list(claims)
    by_id = {c.id: c for c in claims}
    if only not in by_id:
        raise ClaimError(f"--only: unknown claim id {only!r}; allowed: {', '.join(by_id)}")
    wanted = [only, *by_id[only].controls]
    return [c for c in claims if c.id in wanted]


def _study_plots(claim: Claim, study_dir: Path) -> list[tuple[str, bytes]]:
    return [(name, (study_dir / "plots" / name).read_bytes()) for name in claim.plots
            if (study_dir / "plots" / name).is_file()]


def run_claims(claims: Sequence[Claim], out: Path, *, quick: bool, backend: Backend | None = None,
               device: str | None = None, progress: bool = False) -> ClaimsRun:
    """Run the studies of ``claims`` into ``out/studies/<file stem>/`` (``--resume``:
    finished runs are reused), evaluate and judge the set, write the report into ``out``."""
    start = time.perf_counter()
    study_dirs: dict[Path, Path] = {}
    loaded = {}
    outcomes, plots, manifests, seeds = {}, {}, {}, {}
    for claim in claims:
        file = claim.study_file(quick)
        config = load_study_config(file, device=device)
        if claim.kind == "cost":
            times = step_times(config, [claim.treatment, *claim.controls_labels], claim.shapes, claim.repeats)
            outcomes[claim.id] = evaluate_cost_claim(claim, times)
            continue
        if file not in study_dirs:
            study_dirs[file] = out / "studies" / file.stem
            run_study(config, study_dirs[file], backend=backend, resume=True, progress=progress)
            loaded[file] = load_study(study_dirs[file])
            if any(c.plots and c.study_file(quick) == file for c in claims):
                plot_study(loaded[file])
        study = loaded[file]
        manifests[study.name] = study.manifest
        seeds[study.name] = len(config.seeds)
        outcomes[claim.id] = evaluate_study_claim(claim, study)
        plots[claim.id] = _study_plots(claim, study_dirs[file])
    results = judge(claims, outcomes)
    seconds = time.perf_counter() - start
    note = "seeds per study: " + ", ".join(f"{k} {v}" for k, v in sorted(seeds.items()))
    info = RunInfo(quick=quick, seconds=seconds, manifests=manifests, seeds_note=note)
    paths = write_report(results, info, out, plots)
    (out / "timing.json").write_text(json.dumps({"quick": quick, "seconds": round(seconds, 1)}) + "\n")
    return ClaimsRun(results, paths, seconds)
