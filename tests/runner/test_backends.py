"""Backends (SPEC 5, 7): the same study gives the same bytes in-process, on a local
process pool and on a real Dask cluster on loopback, seed-batched or not, with its cells
executed on the workers; a run whose worker process dies is
retried (bounded) and recorded exactly once; a run that keeps killing its worker ends as
``failed`` with a clear message while the study goes on; an unreachable scheduler is one
error line, exit code 2, and nothing written."""

from __future__ import annotations

import functools
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from crashing_runs import attempts, crashing_run
from distributed import Client

from muonlab.analysis import load_study, write_table
from muonlab.cli import main
from muonlab.runner import parse_study, run_study
from muonlab.runner.backends import LocalBackend, dask_backend, make_backend
from muonlab.runner.backends.dask_backend import DaskBackend, local_cluster

# 2 seeds x fix_V {true, false} x 2 optimizers = 8 runs of 30 steps, with events.
TINY = """
seeds = 2
steps = 30
every = 3

[problem]
name = "awbt"
d = 8
kappa = 100.0
fix_V = [true, false]

[injection]
K_out = 10
s = 2

[[optimizers]]
name = "normuon"
lr = 0.01

[[optimizers]]
name = "trasmuon"
lr = 0.01
"""
STUDY = parse_study(TINY, default_name="tiny", device="cpu")
RETRIES = 1
# Seed-batched: the normuon and trasmuon cells run as batches of 2 seeds, adamw (no
# batched mode) one run per seed; 2 fix_V values x 3 optimizers x 2 seeds = 12 runs.
BATCHED = parse_study(
    TINY.replace("seeds = 2", "seeds = 2\nbatch_seeds = true").replace("\ns = 2\n", '\ns = 2\nsite = "gradient"\n')
    + '\n[[optimizers]]\nname = "adamw"\nlr = 0.01\n',
    default_name="batched",
    device="cpu",
)


def study_files(out: Path) -> dict[str, bytes]:
    """Every result file whose bytes SPEC 7 fixes (not the manifest's times)."""
    files = {name: (out / name).read_bytes() for name in ("summary.csv", "events.csv", "study.toml")}
    files.update({f"runs/{p.name}": p.read_bytes() for p in sorted((out / "runs").iterdir())})
    return files


def manifest_runs(out: Path) -> list[dict]:
    return json.loads((out / "manifest.json").read_text())["runs"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The study run in-process (``LocalBackend()``, the default)."""
    out = tmp_path_factory.mktemp("reference") / "study"
    run_study(STUDY, out, progress=False)
    return out


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A real 2-worker LocalCluster on loopback, configured as ``--backend dask``
    configures its own, with ``allowed-failures = RETRIES``; yields its address."""
    cluster = local_cluster(workers=2, retries=RETRIES)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def test_batched_study_identical_bytes_with_cells_run_on_the_workers(scheduler: str, tmp_path: Path) -> None:
    """The cells of a seed-batched study executed in-process, on a 2-process local pool
    (``--workers 2``) and on the 2-worker cluster (configured as ``--backend dask
    --workers 2`` configures its own): the same bytes, including the table, and the
    manifest's ``cells`` name processes other than the driver."""
    runs = BATCHED.runs()
    assert len(runs) == 12
    driver = os.getpid()
    expected: dict[str, bytes] = {}
    for name, backend, kind in [
        ("in-process", LocalBackend(), "in-process"),
        ("local-2", LocalBackend(workers=2), "process-pool"),
        ("dask-2", DaskBackend(scheduler=scheduler), "dask"),
    ]:
        out = tmp_path / name
        run_study(BATCHED, out, backend=backend, progress=False)
        write_table(load_study(out))
        files = study_files(out) | {t: (out / t).read_bytes() for t in ("table.md", "table.csv")}
        expected = expected or files
        assert files == expected, name
        manifest = json.loads((out / "manifest.json").read_text())
        cells = manifest["cells"]
        # Every run executed once; each batched cell whole, as one unit.
        assert sorted(r for c in cells for r in c["run_ids"]) == sorted(r.run_id for r in runs), name
        assert sorted((c["mode"], len(c["run_ids"])) for c in cells) == [("batched", 2)] * 4 + [("sequential", 1)] * 4, name
        planned = [b["run_ids"] for b in manifest["batching"] if b["mode"] == "batched"]
        assert [c["run_ids"] for c in cells if c["mode"] == "batched"] == planned, name
        placements = [c["ran_on"] for c in cells]
        assert {p["backend"] for p in placements} == {kind}, name
        assert {p["host"] for p in placements} == {socket.gethostname()}, name
        pids = {p["pid"] for p in placements}
        assert (pids == {driver}) if kind == "in-process" else (driver not in pids), name
        workers = {p.get("worker") for p in placements}
        if kind == "dask":
            with Client(scheduler) as client:
                assert workers <= set(client.nthreads()), name
        else:
            assert workers == {None}, name
    assert expected["events.csv"].count(b"\n") > 1  # the study has injection events


def test_identical_bytes_whatever_backend_and_workers(reference: Path, scheduler: str, tmp_path: Path) -> None:
    expected = study_files(reference)
    assert len([k for k in expected if k.startswith("runs/")]) == len(STUDY.runs())
    assert expected["events.csv"].count(b"\n") > 1  # the study has injection events
    for name, backend in {
        "local-2": LocalBackend(workers=2),
        "dask-2": DaskBackend(scheduler=scheduler),
    }.items():
        out = tmp_path / name
        report = run_study(STUDY, out, backend=backend, progress=False)
        assert report.statuses == {"done": len(STUDY.runs()), "diverged": 0, "failed": 0}, name
        assert study_files(out) == expected, name
        assert manifest_runs(out) == manifest_runs(reference), name


# Local, retries=0: the poison run dies first next to run 1, which is made slow on its
# first attempt so that it is still running whatever the timing (a death that takes two
# runs down is charged to nobody: both are tried again alone), then alone (charged:
# failed); run 1 is run again and done.
# Dask, allowed-failures=1: the poison run dies twice; the flaky run, the study's last
# (so that two deaths never overlap), dies once and is then done.
@pytest.mark.parametrize(("kind", "flaky_index"), [("local", None), ("dask", -1)])
def test_worker_death_is_retried_and_recorded_once(kind: str, flaky_index: int | None, reference: Path, scheduler: str, tmp_path: Path) -> None:
    runs = STUDY.runs()
    poison = runs[0].run_id
    flaky = "" if flaky_index is None else runs[flaky_index].run_id
    marks = tmp_path / "marks"
    marks.mkdir()
    slow = runs[1].run_id if kind == "local" else ""
    target = functools.partial(crashing_run, poison=poison, flaky=flaky, marks=marks, slow=slow)
    if kind == "local":
        backend = LocalBackend(workers=2, retries=0, target=target)
    else:
        backend = DaskBackend(scheduler=scheduler, target=target)  # the cluster's allowed-failures
    out = tmp_path / "study"
    report = run_study(STUDY, out, backend=backend, progress=False)

    assert report.statuses == {"done": len(runs) - 1, "diverged": 0, "failed": 1}
    assert attempts(marks, poison) == 2
    if flaky:
        assert attempts(marks, flaky) == 2
    if slow:
        assert attempts(marks, slow) == 2
    entries = manifest_runs(out)
    assert [e["run_id"] for e in entries] == [r.run_id for r in runs]  # once each, study order
    failed = [e for e in entries if e["status"] == "failed"]
    assert [e["run_id"] for e in failed] == [poison]
    assert failed[0]["error"].startswith("WorkerLost: its worker process died every time it ran")

    # Every other run is byte-identical to the uninterrupted in-process study.
    got, expected = study_files(out), study_files(reference)
    assert f"runs/{poison}.csv" not in got
    assert got.keys() == expected.keys() - {f"runs/{poison}.csv"}
    assert all(got[k] == expected[k] for k in got if k.startswith("runs/"))
    rows = got["summary.csv"].decode().splitlines()
    reference_rows = expected["summary.csv"].decode().splitlines()
    assert len(rows) == len(reference_rows) == len(runs) + 1
    assert [r for r in rows if not r.startswith(poison)] == [r for r in reference_rows if not r.startswith(poison)]
    assert ",failed," in next(r for r in rows if r.startswith(poison))


def test_unreachable_scheduler_is_one_error_line(tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dask_backend, "CONNECT_TIMEOUT_S", 1.0)
    study_path = tmp_path / "tiny.toml"
    study_path.write_text(TINY)
    out = tmp_path / "out"
    code = main(["run", str(study_path), "--out", str(out), "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])
    captured = capfd.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("muonlab: error: --scheduler: cannot connect to 'tcp://127.0.0.1:9'")
    assert not out.exists()


def test_scheduler_needs_the_dask_backend() -> None:
    with pytest.raises(ValueError, match="--scheduler: only with --backend dask"):
        make_backend("local", scheduler="tcp://127.0.0.1:8786")
