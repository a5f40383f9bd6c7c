"""Shared timing for the bench scripts: interleaved medians on one device.

Every comparison is measured side by side in one run: the candidates run in turn, round
after round, and each one's median over the rounds is reported, so that a change in
machine load (the benches run on shared machines) hits all candidates alike. With one
CPU thread the clock is this process's CPU time (its own work only); on more threads or
on CUDA it is wall-clock time with the device synchronised around each block.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch


def add_device_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op CPU threads (default 1)")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds, median taken (default 7, >= 5)")


def setup(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads``, check ``--device`` and print the header line."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available on this machine")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device {device} ({name}), "
          f"medians of {args.rounds} interleaved rounds")
    return device


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _clock(device: torch.device) -> Callable[[], float]:
    if device.type == "cpu" and torch.get_num_threads() == 1:
        return time.process_time
    return time.perf_counter


def interleaved(fns: Sequence[Callable[[], object]], *, device: torch.device, rounds: int = 7,
                block_time: float = 0.05, calls: int | None = None) -> list[float]:
    """Median seconds per call of each of ``fns`` over ``rounds`` interleaved rounds.

    A round calls each function ``calls`` times in a row (default: as many as fill about
    ``block_time`` seconds, found in a warm-up) and divides the block's time by ``calls``.
    """
    clock = _clock(device)
    counts = []
    for fn in fns:
        fn()  # warm-up: allocations, optimizer state, lazy init
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        once = max(time.perf_counter() - start, 1e-6)
        counts.append(calls if calls is not None else max(1, int(block_time / once)))
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            _sync(device)
            start = clock()
            for _ in range(counts[i]):
                fn()
            _sync(device)
            times[i].append((clock() - start) / counts[i])
    return [statistics.median(t) for t in times]


def ratio_row(label: str, a: float, b: float, target: float | None, width: int = 16) -> str:
    """``label  a ms  b ms  a/b x  [ok|MISS]`` (``target`` is an upper bound on a/b)."""
    verdict = "" if target is None else ("ok" if a / b <= target else "MISS")
    return f"{label:>{width}} {a * 1e3:>11.3f} ms {b * 1e3:>11.3f} ms {a / b:>8.2f}x  {verdict}"
