"""Benchmark the Helmholtz PINN step (SPEC 3 and 8): Laplacian by nested autograd vs the
forward Laplacian vs torch.func, side by side, and an estimate of the full protocol's time.

    python bench/pinn.py [--threads 1] [--device cpu|cuda] [--steps 40] [--repeats 5]

Times are medians over ``--repeats`` rounds of ``--steps`` steps after a warm-up. The
protocol estimate adds, per the 4000-step protocol, the sampling and an AdamW step per
step, 20 global evaluations (128x128 grid) and 150 ROI-event evaluations.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from muonlab.pinn import LAPLACIANS, Helmholtz


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds_per_call(fn: Callable[[], object], *, calls: int, repeats: int, device: torch.device) -> float:
    for _ in range(3):
        fn()
    rounds = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        rounds.append((time.perf_counter() - start) / calls)
    return statistics.median(rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: one core)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=40, help="steps per timing round")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    timing = dict(calls=args.steps, repeats=args.repeats, device=device)

    print(f"device={device} threads={torch.get_num_threads()} torch={torch.__version__} "
          "N_r=1024 N_b=256 MLP 2-64-64-64-1 tanh float32")
    per_method = {}
    for method in LAPLACIANS:
        problem = Helmholtz(laplacian=method, device=device)
        params = list(problem.build_network(0).parameters())
        batch = problem.batch(0, 1000)

        def loss_backward() -> None:
            for p in params:
                p.grad = None
            problem.loss_terms(params, batch.interior, batch.boundary).loss.backward()

        per_method[method] = _seconds_per_call(loss_backward, **timing)

    reference = per_method["autograd"]
    print(f"\n{'laplacian':<10} {'ms/step':>9} {'steps/s':>9} {'speed vs autograd':>18}")
    for method, seconds in per_method.items():
        print(f"{method:<10} {1e3 * seconds:>9.2f} {1 / seconds:>9.1f} {reference / seconds:>17.2f}x")

    # Full protocol with the default (forward) Laplacian.
    problem = Helmholtz(device=device)
    params = list(problem.build_network(0).parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    step_counter = iter(range(1, 10**9))
    event = problem.event_steps[0]

    def train_step() -> None:
        batch = problem.batch(0, next(step_counter))
        optimizer.zero_grad(set_to_none=True)
        problem.loss_terms(params, batch.interior, batch.boundary).loss.backward()
        optimizer.step()

    sample = _seconds_per_call(lambda: problem.batch(0, event), **timing)
    step = _seconds_per_call(train_step, **timing)
    global_eval = _seconds_per_call(lambda: problem.global_rel_l2(params), calls=5, repeats=args.repeats, device=device)
    roi_eval = _seconds_per_call(lambda: problem.roi_metrics(params, seed=0, step=event), calls=5,
                                 repeats=args.repeats, device=device)
    n_evals, n_events = problem.steps // problem.eval_every, len(problem.event_steps)
    total = problem.steps * step + n_evals * global_eval + n_events * roi_eval
    print(f"\nprotocol (forward Laplacian, AdamW): sampling {1e3 * sample:.2f} ms, full step "
          f"{1e3 * step:.2f} ms, global eval {1e3 * global_eval:.2f} ms, ROI eval {1e3 * roi_eval:.2f} ms")
    print(f"estimated {problem.steps}-step protocol per run: {total:.1f} s "
          f"({problem.steps} steps + {n_evals} global + {n_events} ROI evaluations)")


if __name__ == "__main__":
    main()
