"""Lanczos and trace benchmarks (SPEC section 8, issue 16), measured side by side in one run.

    python bench/lanczos.py [--device cpu|cuda] [--rounds R] [--k 10]

1. Top-k wall time: ``muonlab.diagnostics.lanczos`` (default tol) vs
   ``scipy.sparse.linalg.eigsh(tol=0)`` on the same operator (products converted to
   numpy), AWB-T d = 64 (kappa 1e4, analytic eigenvalues) and the digits MLP Hessian
   (h = 64, batch 128, at initialisation; eigsh's tol=0 answer as the reference). Target:
   lanczos / eigsh <= 1.0 at the accuracy each prints.
2. Accuracy per HVP: the tol sweep behind the default (HVPs and max relative error).
3. Trace at a 99-HVP budget on the digits study's Hessian (h = 32, batch 64) at
   initialisation and after 300 steps of adamw / muon: Hutchinson vs Hutch++ vs XTrace,
   median reported stderr and rms error against the dense trace over 10 seeds (target:
   stderr >= 4x lower than Hutchinson), with the eigenvalue decay from a dense eigh that
   says when a sketch can help.
The Hessians are float64. Times are medians of interleaved rounds (``bench/_timing.py``).
"""

from __future__ import annotations

import argparse
import math
import statistics

import numpy as np
import scipy.sparse.linalg
import torch

from _timing import add_device_args, interleaved, setup
from muonlab import optim
from muonlab.diagnostics import MatvecOperator, hessian_operator, hutchinson_trace, hutchpp_trace, lanczos, xtrace_trace
from muonlab.toyproblems import AWBT
from muonlab.toyproblems.digits import DigitsMLP

TOLS = [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8, 1e-10]


def problems(device: torch.device, k: int):
    awbt = AWBT(d=64, kappa=1e4, fix_V=False, seed=0, dtype=torch.float64, device=device)
    yield "AWB-T d=64", MatvecOperator(awbt.hessian_matvec, awbt.dim, awbt.device, awbt.dtype), awbt.hessian_eigenpairs(k)[0].cpu()
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


def trained_hessian(name: str, device: torch.device):
    """The Hessian operator of the digits study's evaluation batch (h = 32, batch 64, the
    batch stream's draw for step 0) at initialisation or after 300 steps of ``adamw``
    (lr 3e-3) / ``muon`` (lr 0.1, hybrid: AdamW on the non-matrix parameters), float64."""
    problem = DigitsMLP(seed=0, hidden=32, batch_size=64, dtype=torch.float64, device=device)
    if name != "init":
        opt = optim.build("adamw", problem.model.parameters(), lr=3e-3) if name == "adamw" else \
            optim.hybrid(problem.model, matrix="muon", matrix_hparams={"lr": 0.1})
        for step in range(1, 301):
            opt.zero_grad()
            problem.batch_loss(step).backward()
            opt.step()
    return hessian_operator(problem.loss_fn(*problem.batch(0)), [p.detach() for p in problem.model.parameters()])


def dense(op) -> torch.Tensor:
    columns = torch.eye(op.dim, dtype=op.dtype, device=op.device)
    H = torch.stack([op.matvec(e) for e in columns], dim=1)
    return (H + H.T) / 2


ESTIMATORS = {"hutchinson": hutchinson_trace, "hutch++": hutchpp_trace, "xtrace": xtrace_trace}


def part_trace(device: torch.device, seeds: int = 10, budget: int = 99) -> None:
    print(f"\n3. trace of the digits-study Hessian (h=32, batch 64), {budget} HVPs, seeds 0..{seeds - 1}; "
          "target: stderr ratio hutchinson / (hutch++ or xtrace) >= 4")
    print("   spectrum (dense eigh): share of ||H||_F^2 in the r largest |eigenvalues|; Hutch++ keeps about "
          f"sqrt(3 (1 - share_{budget // 3})) of Hutchinson's stderr")
    for name in ("init", "adamw", "muon"):
        op = trained_hessian(name, device)
        lam = torch.linalg.eigvalsh(dense(op)).cpu()
        mag2 = (lam.abs().sort(descending=True).values ** 2).cumsum(0) / (lam ** 2).sum()
        truth = float(lam.sum())
        top = ", ".join(f"{float(x):.3f}" for x in lam.flip(0)[:5])
        print(f"   {name + (' (after 300 steps)' if name != 'init' else ''):<26} dim {op.dim}, tr {truth:.3f}, "
              f"top {top}, min {float(lam[0]):.3f}; share r=10/33/66: "
              f"{float(mag2[9]):.3f}/{float(mag2[32]):.3f}/{float(mag2[65]):.3f}; "
              f"predicted hutch++/hutchinson stderr {math.sqrt(3 * (1 - float(mag2[budget // 3 - 1]))):.2f}")
        stderr, rmse = {}, {}
        for label, estimate in ESTIMATORS.items():
            runs = [estimate(op, n_samples=budget, seed=s) for s in range(seeds)]
            stderr[label] = statistics.median(r.stderr for r in runs)
            rmse[label] = math.sqrt(statistics.fmean((r.estimate - truth) ** 2 for r in runs))
        for label in ESTIMATORS:
            line = f"     {label:>10}: median stderr {stderr[label]:.3e}, rms error vs the dense trace {rmse[label]:.3e}"
            if label != "hutchinson":
                ratio = stderr["hutchinson"] / stderr[label]
                line += (f"; stderr ratio {ratio:.2f}x  {'ok' if ratio >= 4 else 'MISS'}, "
                         f"rms error ratio {rmse['hutchinson'] / rmse[label]:.2f}x")
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_device_args(parser)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--parts", default="eigen,trace", help="comma-separated parts: eigen (1-2), trace (3)")
    args = parser.parse_args()
    device = setup(args)
    if "eigen" in args.parts.split(","):
        part_eigen(device, args.rounds, args.k)
    if "trace" in args.parts.split(","):
        part_trace(device)


if __name__ == "__main__":
    main()
