"""Runner benchmarks (SPEC section 8), measured side by side in one run.

    python bench/runner.py [--threads N] [--steps N] [--seeds S] [--study PATH] [--skip-study]

Prints three tables:
1. runner overhead: a bare training loop (problem, optimizer with the injection hook,
   zero_grad/backward/step, nothing logged) vs ``muonlab.runner.run`` on the same run,
   logging every step (target <= 1.15x);
2. seed batching: S = 32 seeds of AWB-T (d = 64) as one batched run vs 32 sequential
   runs through the runner, throughput in steps x seeds per second (target >= 8x), with
   the largest per-seed difference of final losses, and the batched run's FLOP rate as a
   share of the fp32 ``bmm`` limit (target >= 70%), the batched run and the limit timed
   in turn ``--repeats`` times (medians), and the same share for the step's matmuls
   alone (the ceiling of a run with these bits);
3. the README default study (``studies/awbt_ablation.toml``) through the CLI into a
   temporary directory, with and without ``batch_seeds`` (target < 5 min on 2 cores).
With one torch thread, tables 1-2 time CPU seconds of this process
(``time.process_time``: the run's own work, robust to other jobs on a shared machine),
with more threads wall-clock seconds; medians of ``--repeats`` interleaved runs. Table 3
is the wall-clock time of one CLI run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from muonlab import optim
from muonlab.optim.zeropower import NS_COEFFICIENTS
from muonlab.runner import parse_study, run
from muonlab.runner.batched import run_batch
from muonlab.toyproblems import AWBT, OutlierInjection

ROOT = Path(__file__).resolve().parents[1]
STUDY = """
seeds = {seeds}
steps = {steps}
every = 1
device = "{device}"
[problem]
name = "awbt"
d = 64
kappa = 1e4
fix_V = false
[injection]
K_out = 50
[[optimizers]]
name = "{optimizer}"
lr = 3e-3
"""


CLOCK = {"clock": time.process_time}
DEVICE = {"name": "cpu"}


def cpu_seconds(fn: Callable[[], object]) -> float:
    clock = CLOCK["clock"]
    start = clock()
    fn()
    if DEVICE["name"].startswith("cuda"):
        torch.cuda.synchronize()
    return clock() - start


def bmm_limit(seeds: int, d: int = 64, calls: int = 200) -> float:
    """FLOP/s of the fp32 batched matmul ``(S, d, d) @ (S, d, d)`` on the device: the
    roof that a batched AWB-T step (all matmuls of this shape) can reach.

    The products go into one ``out`` buffer. Collecting ``calls`` fresh results in a
    list (as before issue 16) timed the kernel plus the first touch of 100 MB of new
    pages whenever the allocator had handed freed memory back to the OS: in the same
    process, 33 GFLOP/s with ~23,000 page faults per block vs 76 GFLOP/s with none, so the
    share read 50-120% depending on the process's history, not on the run."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(seeds, d, d, generator=g).to(DEVICE["name"]) for _ in range(2))
    out = torch.empty_like(a)

    def block() -> None:
        for _ in range(calls):
            torch.bmm(a, b, out=out)

    seconds = statistics.median(cpu_seconds(block) for _ in range(3))
    return calls * seeds * 2 * d**3 / seconds


def step_matmuls(seeds: int, d: int = 64, steps: int = 50) -> float:
    """FLOP/s of a batched AWB-T step's own 19 matmuls alone, called as the run calls
    them: loss/grad ``A W B`` and ``A^T (G B^T)`` (4 ``bmm``) and NS5's 5 x (``X X^T``,
    two ``baddbmm``), each result freshly allocated. With the run's bits fixed these
    kernels cannot be replaced, so their rate over :func:`bmm_limit` is about the most
    that a bit-identical batched run can reach (``baddbmm`` copies its bias into the
    result first and runs below ``bmm``'s rate)."""
    a, b, c = NS_COEFFICIENTS
    g = torch.Generator().manual_seed(0)
    A, B, W = (torch.randn(seeds, d, d, generator=g).to(DEVICE["name"]) for _ in range(3))
    X0 = W / W.norm(dim=(-2, -1), keepdim=True)

    def block() -> None:
        for _ in range(steps):
            R = A @ W @ B
            A.mT @ (R @ B.mT)
            X = X0
            for _ in range(5):
                S = X @ X.mT
                X = torch.baddbmm(X, torch.baddbmm(S, S, S, beta=b, alpha=c), X, beta=a, alpha=1.0)

    return steps * seeds * 19 * 2 * d**3 / cpu_seconds(block)


def interleaved(fns: tuple[Callable[[], object], ...], repeats: int) -> list[float]:
    """Median CPU seconds of each of ``fns``, run in turn ``repeats`` times after a
    warm-up (interleaving spreads any drift in machine load over all of them)."""
    for fn in fns:
        fn()
    times = [[cpu_seconds(fn) for fn in fns] for _ in range(repeats)]
    return [statistics.median(column) for column in zip(*times)]


def bare_loop(steps: int, optimizer: str) -> None:
    """The same run as the runner's, with nothing but the training loop."""
    problem = AWBT(d=64, kappa=1e4, fix_V=False, seed=0, device=DEVICE["name"])
    W = nn.Parameter(problem.W0.clone())
    injection = OutlierInjection(K_out=50, seed=0)
    opt = optim.build(optimizer, [W], lr=3e-3, momentum_hook=injection.momentum_hook(problem.V, target=W))
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        problem.loss(W).backward()
        opt.step()


def bench_overhead(steps: int, optimizer: str, repeats: int) -> tuple[float, float]:
    (config,) = parse_study(STUDY.format(seeds=1, steps=steps, optimizer=optimizer, device=DEVICE["name"])).runs()
    bare, runner = interleaved((lambda: bare_loop(steps, optimizer), lambda: run(config)), repeats)
    return bare, runner


def bench_batching(steps: int, seeds: int, optimizer: str, repeats: int) -> tuple[float, float, float, float, float]:
    """Sequential time (one pass: 32 single runs), the batched run's median time, the bmm
    limit's median and the median rate of the step's matmuls alone, the three measured
    in turn ``repeats`` times (so that machine load hits them alike), and the largest
    relative final-loss difference per seed."""
    configs = parse_study(STUDY.format(seeds=seeds, steps=steps, optimizer=optimizer, device=DEVICE["name"])).runs()
    run_batch(configs[:2])  # warm-up
    sequential: list = []
    batched: list = []
    t_seq = cpu_seconds(lambda: sequential.extend(run(c) for c in configs))
    t_bat, limit, matmuls = [], [], []
    for _ in range(repeats):
        batched.clear()
        t_bat.append(cpu_seconds(lambda: batched.extend(run_batch(configs))))
        limit.append(bmm_limit(seeds))
        matmuls.append(step_matmuls(seeds))
    gap = max(abs(a.summary["final_loss"] - b.summary["final_loss"]) / abs(a.summary["final_loss"])
              for a, b in zip(sequential, batched))
    return t_seq, statistics.median(t_bat), statistics.median(limit), statistics.median(matmuls), gap


def bench_study(path: Path, batch: bool, threads: int) -> float:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^batch_seeds\s*=.*$\n?", "", text)
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / path.name
        study.write_text(f"batch_seeds = {str(batch).lower()}\n{text}", encoding="utf-8")
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "muonlab", "run", str(study), "--out", str(Path(tmp) / "out"), "--no-progress"],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)},
        )
        seconds = time.perf_counter() - start
    for line in done.stderr.splitlines():  # the CLI's note on how the seeds ran
        if "batch_seeds" in line:
            print(f"   {line}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--steps", type=int, default=300, help="steps per run in tables 1-2 (default 300)")
    parser.add_argument("--seeds", type=int, default=32, help="seeds in table 2 (default 32)")
    parser.add_argument("--optimizer", default="trasmuon", help="optimizer of tables 1-2 (default trasmuon)")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of tables 1-2 (default 5)")
    parser.add_argument("--study", type=Path, default=ROOT / "studies" / "awbt_ablation.toml", help="the README default study")
    parser.add_argument("--skip-study", action="store_true", help="skip table 3")
    parser.add_argument("--device", default="cpu", help="device of tables 1-2 (default cpu; cuda times wall-clock)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    DEVICE["name"] = args.device
    if args.threads > 1 or args.device != "cpu":
        CLOCK["clock"] = time.perf_counter
    clock = "CPU" if args.threads == 1 and args.device == "cpu" else "wall-clock"
    print(f"torch {torch.__version__}, {args.threads} thread(s), device {args.device}, optimizer {args.optimizer}, {clock} seconds\n")

    bare, runner = bench_overhead(args.steps, args.optimizer, args.repeats)
    print(f"1. runner overhead, AWB-T d=64 + injection, {args.steps} steps, every=1")
    print(f"   bare loop {bare:8.3f} s   runner {runner:8.3f} s   ratio {runner / bare:5.2f}x   (target <= 1.15x)\n")

    t_seq, t_bat, limit, matmuls, gap = bench_batching(args.steps, args.seeds, args.optimizer, args.repeats)
    work = args.steps * args.seeds
    print(f"2. seed batching, AWB-T d=64, {args.seeds} seeds x {args.steps} steps")
    print(f"   sequential {work / t_seq:9.0f} steps*seeds/s ({t_seq:.2f} s)   batched {work / t_bat:9.0f} "
          f"steps*seeds/s ({t_bat:.2f} s)   speed-up {t_seq / t_bat:5.2f}x   (target >= 8x)")
    print(f"   largest relative final-loss difference per seed: {gap:.1e}")
    # Per seed-step: loss/grad 4 x 2 d^3 and NS5 15 x 2 d^3 at d = 64 (SPEC 8).
    achieved = work * 19 * 2 * 64**3 / t_bat
    print(f"   fp32 bmm limit at ({args.seeds}, 64, 64): {limit / 1e9:.1f} GFLOP/s; batched run "
          f"{achieved / 1e9:.1f} GFLOP/s = {achieved / limit:.0%} of it   (target >= 70%)")
    print(f"   the step's 19 matmuls alone (the run's kernels: about the most a run with these bits can reach): "
          f"{matmuls / 1e9:.1f} GFLOP/s = {matmuls / limit:.0%} of the limit\n")

    if args.skip_study:
        return
    if not args.study.is_file():
        print(f"3. default study: {args.study} not found (run from the repository root)")
        return
    print(f"3. default study {args.study} via the CLI ({args.threads} thread(s)), target < 300 s")
    for batch in (False, True):
        seconds = bench_study(args.study, batch, args.threads)
        print(f"   batch_seeds = {str(batch).lower():5s}  {seconds:8.1f} s")


if __name__ == "__main__":
    main()
