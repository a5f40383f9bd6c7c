"""Transformer throughput (SPEC 8, 12): training tokens per second per optimizer on the
``gpt`` problem, measured side by side in one process.

    python bench/gpt.py [--threads 1] [--steps 60] [--repeats 3] [--d-model 32] [--context 32]
                        [--batch-size 16] [--device cpu]

For each optimizer of the transformer studies (the hybrid split for the Muon family),
a training loop through the runner's task (zero_grad, loss, backward, step) of
``--steps`` steps; the optimizers are interleaved over ``--repeats`` rounds and the
median is reported, with the ratio to AdamW. With one thread on CPU the time is CPU
seconds of this process (``time.process_time``: robust to other jobs on a shared
machine), otherwise wall-clock seconds (CUDA synchronised).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from muonlab.runner import parse_study
from muonlab.runner.adapters import build_task

OPTIMIZERS = {"adamw": 1e-2, "muon": 1e-3, "normuon": 1e-3, "trasmuon": 3e-3, "trasmuon-noclip": 3e-3, "rmnp": 1e-3}


def study_text(name: str, lr: float, args: argparse.Namespace) -> str:
    return f"""
steps = {args.steps}
device = "{args.device}"
[problem]
name = "gpt"
d_model = {args.d_model}
n_heads = 4
context = {args.context}
batch_size = {args.batch_size}
[[optimizers]]
name = "{name}"
lr = {lr}
"""


def timed_loop(name: str, lr: float, args: argparse.Namespace) -> float:
    """Seconds for ``args.steps`` training steps (the task is built outside the timing)."""
    config = parse_study(study_text(name, lr, args)).runs()[0]
    device = torch.device(args.device)
    task = build_task(config, device=device, dtype=torch.float32)
    clock = time.process_time if (args.threads == 1 and device.type == "cpu") else time.perf_counter
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = clock()
    for step in range(1, args.steps + 1):
        task.optimizer.zero_grad(set_to_none=True)
        objective, _ = task.loss(step)
        objective.backward()
        task.optimizer.step()
    sync()
    return clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--context", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    times: dict[str, list[float]] = {name: [] for name in OPTIMIZERS}
    for _ in range(args.repeats):
        for name, lr in OPTIMIZERS.items():
            times[name].append(timed_loop(name, lr, args))
    tokens = args.steps * args.batch_size * args.context
    base = statistics.median(times["adamw"])
    print(f"gpt d_model={args.d_model} context={args.context} batch={args.batch_size}, {args.steps} steps, "
          f"{args.threads} thread(s), {args.device}, median of {args.repeats}")
    print(f"{'optimizer':<18}{'tokens/s':>12}{'time / AdamW':>14}")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:<18}{tokens / seconds:>12.0f}{seconds / base:>14.2f}")


if __name__ == "__main__":
    main()
