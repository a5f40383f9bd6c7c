"""A 64-run sweep through the backends (SPEC 5, issue 6): in-process (1 worker), a local
process pool of 2 workers, and a Dask ``LocalCluster`` of 2 workers on loopback.

Each backend's start-up (spawning workers, importing torch and muonlab in them, for
Dask the cluster) is timed apart from the sweep: a warm-up pass of 2 one-step runs
measures it, then the 64 runs (tiny AWB-T runs: d = 16, 200 steps) are timed. Printed
side by side: wall times, ratios to in-process, and the Dask path's overhead per run
over the local pool (steady state, per run and per worker). The results of the three
backends are checked to be identical.

Run: ``OMP_NUM_THREADS=1 python bench/sweep.py [--steps 200] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np

from muonlab.runner import RunConfig, RunResult, parse_study
from muonlab.runner.backends import Backend, LocalBackend
from muonlab.runner.backends.dask_backend import DaskBackend
from muonlab.runner.cells import single_cells

# 8 seeds x fix_V {true, false} x 4 optimizers = 64 runs.
SWEEP = """
seeds = 8
steps = {steps}
every = 10
device = "{device}"

[problem]
name = "awbt"
d = 16
kappa = 1e3
fix_V = [true, false]

[injection]
K_out = 50
s = 2

[[optimizers]]
name = "muon"
lr = 0.01

[[optimizers]]
name = "normuon"
lr = 0.01

[[optimizers]]
name = "trasmuon"
lr = 0.01

[[optimizers]]
name = "trasmuon-noclip"
lr = 0.01
"""


def timed(backend: Backend, configs: Sequence[RunConfig]) -> tuple[float, list[RunResult]]:
    start = time.perf_counter()
    results = [r for finished in backend.run_cells(single_cells(configs)) for r in finished.results]
    return time.perf_counter() - start, results


def fingerprint(results: list[RunResult]) -> list[tuple[str, str, bytes]]:
    """What a run wrote, in study order (completion order differs by backend)."""
    return sorted((r.run_id, r.status, b"".join(np.ascontiguousarray(v).tobytes() for v in r.columns.values())) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="device of the runs (default cpu)")
    args = parser.parse_args()
    configs = parse_study(SWEEP.format(steps=args.steps, device=args.device), default_name="sweep").runs()
    warmup = parse_study(SWEEP.format(steps=1, device=args.device).replace("seeds = 8", "seeds = 1"),
                         default_name="warmup").runs()[:2]
    n, w = len(configs), args.workers

    rows: dict[str, tuple[float, float, float]] = {}  # name -> (start-up, sweep, total)
    outputs = {}

    backend = LocalBackend()
    startup, _ = timed(backend, warmup)
    sweep, outputs["local-1"] = timed(backend, configs)
    rows["local, 1 (in-process)"] = (startup, sweep, startup + sweep)

    # Every pass of the pool spawns a fresh pool: its start-up is the warm-up pass.
    backend = LocalBackend(workers=w)
    startup, _ = timed(backend, warmup)
    total, outputs[f"local-{w}"] = timed(backend, configs)
    rows[f"local, {w} processes"] = (startup, total - startup, total)

    start = time.perf_counter()
    with DaskBackend(workers=w) as backend:
        cluster = time.perf_counter() - start
        warm, _ = timed(backend, warmup)
        sweep, outputs[f"dask-{w}"] = timed(backend, configs)
    rows[f"dask LocalCluster, {w} workers"] = (cluster + warm, sweep, cluster + warm + sweep)

    base = rows["local, 1 (in-process)"]
    print(f"{n} runs of {args.steps} steps (AWB-T d=16); times in seconds")
    print(f"{'backend':<32}{'start-up':>10}{'sweep':>10}{'total':>10}{'sweep/in-proc':>15}{'total/in-proc':>15}")
    for name, (startup, sweep, total) in rows.items():
        print(f"{name:<32}{startup:>10.2f}{sweep:>10.2f}{total:>10.2f}{sweep / base[1]:>15.2f}{total / base[2]:>15.2f}")
    pool, dask = rows[f"local, {w} processes"][1], rows[f"dask LocalCluster, {w} workers"][1]
    print(f"per run, in-process: {1e3 * base[1] / n:.1f} ms")
    print(
        f"dask over local pool, steady state: {1e3 * (dask - pool) / n:+.1f} ms wall per run "
        f"({1e3 * (dask - pool) * w / n:+.1f} ms per run per worker); dask/pool sweep ratio {dask / pool:.2f}"
    )
    same = all(fingerprint(v) == fingerprint(outputs["local-1"]) for v in outputs.values())
    print(f"identical results across backends: {same}")


if __name__ == "__main__":
    main()
