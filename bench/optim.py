"""Optimizer step benchmarks (SPEC section 8, issue 16), measured side by side in one run.

    python bench/optim.py [--device cpu|cuda] [--threads N] [--rounds R] [--only NAME]

Tables (each row: both step times, their ratio, the target):
1. ``muon`` (bfloat16 NS) vs ``torch.optim.Muon``, 256^2 .. 4096x1024, target <= 1.05x;
2. NS5 vs RMNP row normalisation, target >= 20x at 1024;
3. ``trasmuon`` vs ``normuon`` (rms_scale 1, the same calibration), 64x64 .. 1024x256 and
   batched (32, 64, 64), target <= 1.25x;
4. ``sf-adamw`` vs ``schedulefree.AdamWScheduleFree`` itself (digits MLP parameters,
   1024^2, 32 x 256^2): (a) a step with statistics off, as the runner runs every step
   it does not log (``want_stats(False)``), target <= 1.10x; (b) a logged step
   (statistics on), for information.
Times are medians of interleaved rounds (``bench/_timing.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import schedulefree
import torch

from _timing import add_device_args, interleaved, ratio_row, setup
from muonlab.optim import build, zeropower
from muonlab.optim.row_norm import row_normalize

Shape = tuple[int, ...]


def make_params(shapes: Sequence[Shape], device: torch.device, seed: int = 0) -> list[torch.nn.Parameter]:
    g = torch.Generator().manual_seed(seed)
    params = []
    for shape in shapes:
        p = torch.nn.Parameter(torch.randn(shape, generator=g).to(device))
        p.grad = torch.randn(shape, generator=g).to(device)
        params.append(p)
    return params


def stepper(make: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer], shapes: Sequence[Shape],
            device: torch.device) -> Callable[[], object]:
    return make(make_params(shapes, device)).step


def table(title: str, names: tuple[str, str], rows: list[tuple[str, float, float]], target: float | None,
          target_text: str) -> None:
    print(f"\n{title}")
    print(f"{'shape':>16} {names[0]:>14} {names[1]:>14} {'ratio':>9}   target {target_text}")
    for label, a, b in rows:
        print(ratio_row(label, a, b, target))


def label(shapes: Sequence[Shape]) -> str:
    if len(shapes) > 1 and len(set(shapes)) == 1:
        return f"{len(shapes)}x" + "x".join(map(str, shapes[0]))
    return "x".join(map(str, shapes[0])) if len(shapes) == 1 else "digits MLP"


MUON_SHAPES = [(256, 256), (512, 512), (1024, 256), (4096, 1024)]


# The largest shape runs only when its projected time fits this budget (seconds for both
# candidates: 2 warm-up calls and ``rounds`` timed calls each). bf16 matmuls are slow on
# some CPUs, where one 4096 x 1024 step takes minutes.
MUON_BUDGET_S = 180.0


def muon_ns_cost(shape: Shape) -> int:
    """``min(m, n)^2 max(m, n)``: how the NS5 work of one step grows with the shape."""
    m, n = shape
    return min(m, n) ** 2 * max(m, n)


def bench_muon(device: torch.device, rounds: int) -> list[tuple[str, float, float]]:
    rows = []
    per_cost = None  # seconds per unit of muon_ns_cost, from the shapes measured so far
    for shape in MUON_SHAPES:
        if per_cost is not None and per_cost * muon_ns_cost(shape) * 2 * (rounds + 2) > MUON_BUDGET_S:
            projected = per_cost * muon_ns_cost(shape)
            print(f"   skipped {label([shape])}: one step projected at {projected:.1f} s here from the smaller shapes, "
                  f"over the {MUON_BUDGET_S:.0f} s budget for the row (bench/gpu.sh runs it on a GPU)")
            continue
        ours = stepper(lambda ps: build("muon", ps, lr=1e-3, weight_decay=0.1, ns_dtype="bfloat16"), [shape], device)
        ref = stepper(lambda ps: torch.optim.Muon(ps, lr=1e-3, weight_decay=0.1), [shape], device)
        times = interleaved([ours, ref], device=device, rounds=rounds)
        per_cost = max(times) / muon_ns_cost(shape)
        rows.append((label([shape]), *times))
    return rows


def bench_rownorm(device: torch.device, rounds: int) -> list[tuple[str, float, float]]:
    rows = []
    for d in (256, 512, 1024):
        X = torch.randn(d, d, generator=torch.Generator().manual_seed(d)).to(device)
        rows.append((f"{d}x{d}", *interleaved([lambda: zeropower(X), lambda: row_normalize(X)], device=device, rounds=rounds)))
    return rows


def bench_trasmuon(device: torch.device, rounds: int) -> list[tuple[str, float, float]]:
    rows = []
    for shape in [(64, 64), (256, 256), (512, 512), (1024, 256), (32, 64, 64)]:
        batched = len(shape) == 3
        tras = stepper(lambda ps: build("trasmuon", ps, T_w=0, batched=batched), [shape], device)
        nor = stepper(lambda ps: build("normuon", ps, rms_scale=1.0, batched=batched), [shape], device)
        rows.append((label([shape]) + (" (b)" if batched else ""), *interleaved([tras, nor], device=device, rounds=rounds)))
    return rows


def reference_sf(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    opt = schedulefree.AdamWScheduleFree(params, lr=1e-3)
    opt.train()
    return opt


def sf_adamw(stats: bool) -> Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer]:
    """``sf-adamw`` with statistics on (a logged step) or off (the run loop's other steps)."""
    def make(params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        opt = build("sf-adamw", params, lr=1e-3)
        opt.want_stats(stats)
        return opt
    return make


def bench_sf_adamw(device: torch.device, rounds: int) -> dict[str, list[tuple[str, float, float]]]:
    """Unlogged and logged ``sf-adamw`` steps vs the package, all three interleaved."""
    digits = [(64, 64), (64,), (64, 64), (64,), (10, 64), (10,)]  # 64 -> h=64 -> 64 -> 10
    rows: dict[str, list[tuple[str, float, float]]] = {"unlogged": [], "logged": []}
    for shapes in [digits, [(1024, 1024)], [(256, 256)] * 32]:
        off, on, ref = (stepper(make, shapes, device) for make in (sf_adamw(False), sf_adamw(True), reference_sf))
        t_off, t_on, t_ref = interleaved([off, on, ref], device=device, rounds=rounds)
        rows["unlogged"].append((label(shapes), t_off, t_ref))
        rows["logged"].append((label(shapes), t_on, t_ref))
    return rows


def sf_adamw_tables(device: torch.device, rounds: int) -> None:
    rows = bench_sf_adamw(device, rounds)
    table("4a. sf-adamw vs schedulefree.AdamWScheduleFree, unlogged step (statistics off: every step the "
          "runner does not log)", ("sf-adamw", "package"), rows["unlogged"], 1.10, "<= 1.10x")
    table("4b. the same, logged step (statistics on: one parameter copy and one subtraction more)",
          ("sf-adamw", "package"), rows["logged"], None, "none (paid at logged rows only)")


TABLES = {
    "muon": lambda d, r: table("1. Muon step: muonlab (bf16 NS) vs torch.optim.Muon", ("muonlab", "torch"),
                               bench_muon(d, r), 1.05, "<= 1.05x"),
    "rownorm": lambda d, r: table("2. Preconditioner: NS5 (float32) vs RMNP row normalisation (ratio = speed-up)",
                                  ("NS5", "row-norm"), bench_rownorm(d, r), None, ">= 20x at 1024"),
    "trasmuon": lambda d, r: table("3. TrasMuon vs NorMuon step (float32 NS; (b) = batched)", ("trasmuon", "normuon"),
                                   bench_trasmuon(d, r), 1.25, "<= 1.25x"),
    "sf-adamw": sf_adamw_tables,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_args(parser)
    parser.add_argument("--only", choices=sorted(TABLES), action="append", help="run only these tables")
    parser.add_argument("--skip-4096", action="store_true",
                        help="leave out the 4096x1024 Muon row (bf16 NS there takes minutes per step on a loaded CPU)")
    args = parser.parse_args()
    if args.skip_4096:
        MUON_SHAPES.remove((4096, 1024))
    device = setup(args)
    for name in args.only or TABLES:
        TABLES[name](device, args.rounds)


if __name__ == "__main__":
    main()
