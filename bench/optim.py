"""Optimizer benchmarks (SPEC section 8), measured side by side in one run.

    python bench/optim.py [--threads N] [--min-time SECONDS]

Prints three tables: muon vs torch.optim.Muon step time (target <= 1.10x, same shapes,
bfloat16 NS as torch's), NS5 vs RMNP row normalisation (target >= 20x at 1024), and
TrasMuon vs NorMuon step time (target <= 1.25x). Timings are medians of
torch.utils.benchmark blocked_autorange runs (with warm-up).
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.benchmark import Timer

from muonlab.optim import build, zeropower
from muonlab.optim.row_norm import row_normalize


def median_seconds(fn, min_time: float) -> float:
    for _ in range(3):
        fn()  # warm-up (allocations, state creation)
    return Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_time).median


def optimizer_step(make, shape: tuple[int, int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    p = torch.nn.Parameter(torch.randn(shape, generator=g))
    p.grad = torch.randn(shape, generator=g)
    opt = make([p])
    return opt.step


def bench_muon(min_time: float) -> list[tuple[str, float, float]]:
    rows = []
    for shape in [(256, 256), (512, 512), (1024, 256)]:
        ours = median_seconds(optimizer_step(lambda ps: build("muon", ps, lr=1e-3, weight_decay=0.1, ns_dtype=torch.bfloat16), shape), min_time)
        ref = median_seconds(optimizer_step(lambda ps: torch.optim.Muon(ps, lr=1e-3, weight_decay=0.1), shape), min_time)
        rows.append((f"{shape[0]}x{shape[1]}", ours, ref))
    return rows


def bench_rownorm(min_time: float) -> list[tuple[str, float, float]]:
    rows = []
    for d in (256, 512, 1024):
        X = torch.randn(d, d, generator=torch.Generator().manual_seed(d))
        ns = median_seconds(lambda: zeropower(X), min_time)
        rn = median_seconds(lambda: row_normalize(X), min_time)
        rows.append((f"{d}x{d}", ns, rn))
    return rows


def bench_trasmuon(min_time: float) -> list[tuple[str, float, float]]:
    rows = []
    for shape in [(256, 256), (512, 512), (1024, 256)]:
        tras = median_seconds(optimizer_step(lambda ps: build("trasmuon", ps, T_w=0), shape), min_time)
        nor = median_seconds(optimizer_step(lambda ps: build("normuon", ps, rms_scale=1.0), shape), min_time)
        rows.append((f"{shape[0]}x{shape[1]}", tras, nor))
    return rows


def print_table(title: str, names: tuple[str, str], rows, ratio_label: str, target: str) -> None:
    """One row per shape: both timings and their ratio (first / second)."""
    print(f"\n{title}")
    print(f"{'shape':>10} {names[0]:>16} {names[1]:>16} {ratio_label:>12}   target {target}")
    for shape, a, b in rows:
        print(f"{shape:>10} {a * 1e3:>13.3f} ms {b * 1e3:>13.3f} ms {a / b:>11.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per measurement (default 0.5)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU")
    print_table("Muon step: muonlab (bf16 NS) vs torch.optim.Muon", ("muonlab", "torch"), bench_muon(args.min_time), "muonlab/torch", "<= 1.10x")
    print_table("Preconditioner: NS5 (float32) vs RMNP row normalisation", ("NS5", "row-norm"), bench_rownorm(args.min_time), "NS5/rownorm", ">= 20x at 1024")
    print_table("TrasMuon vs NorMuon step (float32 NS)", ("trasmuon", "normuon"), bench_trasmuon(args.min_time), "TrasMuon/NorMuon", "<= 1.25x")


if __name__ == "__main__":
    main()
