"""Lanczos and trace benchmarks (SPEC section 8, issue 16), measured side by side in one run.

    python bench/lanczos.py [--device cpu|cuda] [--rounds R] [--k 10]

1. Top-k wall time: ``muonlab.diagnostics.lanczos`` (default tol) vs
   ``scipy.sparse.linalg.eigsh(tol=0)`` on the same operator (products converted to
   numpy), AWB-T d = 64 (kappa 1e4, analytic eigenvalues) and the digits MLP Hessian
   (h = 64, batch 128, at initialisation; eigsh's tol=0 answer as the reference). Target:
   lanczos / eigsh <= 1.0 at the accuracy each prints.
2. Accuracy per HVP: the tol sweep behind the default (HVPs and max relative error).
3. Trace at a 100-HVP budget on the digits MLP: Hutchinson vs Hutch++ standard errors
   over several seeds (target: Hutch++ stderr >= 4x lower).
The Hessians are float64. Times are medians of interleaved rounds (``bench/_timing.py``).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import scipy.sparse.linalg
import torch

from _awbt_operator import AWBTHessian
from _timing import add_device_args, interleaved, setup
from muonlab.diagnostics import hessian_operator, hutchinson_trace, hutchpp_trace, lanczos
from muonlab.toyproblems import AWBT
from muonlab.toyproblems.digits import DigitsMLP

TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10]


def problems(device: torch.device, k: int):
    awbt = AWBT(d=64, kappa=1e4, fix_V=False, seed=0, dtype=torch.float64, device=device)
    yield "AWB-T d=64", AWBTHessian(awbt), awbt.hessian_eigenpairs(k)[0].cpu()
    mlp = DigitsMLP(seed=0, hidden=64, batch_size=128, dtype=torch.float64, device=device)
    params = list(mlp.model.parameters())
    op = hessian_operator(mlp.loss_fn(*mlp.batch(1)), params)
    yield "digits MLP h=64", op, None


def eigsh(op, k: int) -> tuple[np.ndarray, int]:
    """scipy's ARPACK (tol=0: machine precision) on the operator; eigenvalues descending."""
    count = [0]

    def matvec(x: np.ndarray) -> np.ndarray:
        count[0] += 1
        v = torch.as_tensor(np.ascontiguousarray(x).reshape(-1), dtype=op.dtype, device=op.device)
        return op.matvec(v).cpu().numpy()

    linear = scipy.sparse.linalg.LinearOperator((op.dim, op.dim), matvec=matvec, dtype=np.float64)
    v0 = np.random.default_rng(0).standard_normal(op.dim)
    values = scipy.sparse.linalg.eigsh(linear, k=k, which="LA", tol=0, v0=v0, return_eigenvectors=False)
    return np.sort(values)[::-1].copy(), count[0]


def rel_error(values, truth) -> float:
    values, truth = np.asarray(values, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    return float(np.max(np.abs(values - truth) / np.abs(truth)))


def part_eigen(device: torch.device, rounds: int, k: int) -> None:
    print(f"\n1. top-{k}: lanczos (default tol) vs scipy eigsh(tol=0), wall time, target ratio <= 1.0")
    print(f"{'operator':>18} {'lanczos':>10} {'HVPs':>5} {'rel err':>8} {'eigsh':>10} {'HVPs':>5} {'rel err':>8} {'ratio':>7}")
    sweeps = []
    for name, op, truth in problems(device, k):
        reference, n_eigsh = eigsh(op, k)
        truth = reference if truth is None else truth.numpy()
        result = lanczos(op, k)
        t_lz, t_ar = interleaved([lambda: lanczos(op, k), lambda: eigsh(op, k)], device=device, rounds=rounds, calls=1)
        verdict = "ok" if t_lz <= t_ar else "MISS"
        print(f"{name:>18} {t_lz * 1e3:>7.0f} ms {result.n_matvec:>5} {rel_error(result.eigenvalues.cpu(), truth):>8.1e} "
              f"{t_ar * 1e3:>7.0f} ms {n_eigsh:>5} {rel_error(reference, truth):>8.1e} {t_lz / t_ar:>6.2f}x  {verdict}")
        sweeps.append((name, op, truth))
    print(f"\n2. accuracy per HVP (lanczos tol sweep; errors relative to {'the analytic / eigsh reference'})")
    print(f"{'operator':>18} " + " ".join(f"{t:>9.0e}" for t in TOLS))
    for name, op, truth in sweeps:
        runs = [lanczos(op, k, tol=t) for t in TOLS]
        print(f"{name + ' HVPs':>18} " + " ".join(f"{r.n_matvec:>9d}" for r in runs))
        print(f"{name + ' err':>18} " + " ".join(f"{rel_error(r.eigenvalues.cpu(), truth):>9.1e}" for r in runs))


def part_trace(device: torch.device, seeds: int = 5, budget: int = 99) -> None:
    mlp = DigitsMLP(seed=0, hidden=64, batch_size=128, dtype=torch.float64, device=device)
    op = hessian_operator(mlp.loss_fn(*mlp.batch(1)), list(mlp.model.parameters()))
    print(f"\n3. trace of the digits MLP Hessian, {budget} HVPs, seeds 0..{seeds - 1}; target stderr ratio >= 4")
    plain = [hutchinson_trace(op, n_samples=budget, seed=s) for s in range(seeds)]
    print(f"   hutchinson: estimates {', '.join(f'{r.estimate:.4f}' for r in plain)}; "
          f"median stderr {statistics.median(r.stderr for r in plain):.2e}")
    pp = [hutchpp_trace(op, n_samples=budget, seed=s) for s in range(seeds)]
    print(f"   hutch++   : estimates {', '.join(f'{r.estimate:.4f}' for r in pp)}; "
          f"median stderr {statistics.median(r.stderr for r in pp):.2e}")
    ratio = statistics.median(r.stderr for r in plain) / statistics.median(r.stderr for r in pp)
    spread = np.std([r.estimate for r in pp], ddof=1)
    print(f"   stderr ratio hutchinson / hutch++ = {ratio:.1f}x  {'ok' if ratio >= 4 else 'MISS'}"
          f"   (hutch++ estimates' spread over seeds {spread:.2e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_args(parser)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    device = setup(args)
    part_eigen(device, args.rounds, args.k)
    part_trace(device)


if __name__ == "__main__":
    main()
