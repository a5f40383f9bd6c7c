"""Top-k eigenpairs by Lanczos with full (DGKS) reorthogonalisation (SPEC section 4 "Lanczos").

A single Lanczos sequence sees only one direction of each eigenspace, so on its own it
cannot find repeated eigenvalues (the AWB-T Hessian ``A^2 (x) B^2`` has eigenvalue
``s_i^2 s_j^2`` with multiplicity up to ``d``). ``lanczos`` therefore runs a sequence of
Lanczos processes with locking: converged Ritz pairs are locked, the next process starts
from a fresh random vector orthogonal to them, and the search stops when a process
converges without adding a new pair to the top k (or the HVP budget is spent).

Warm start (``v0``): the first process may start from a guess of the top-k subspace,
e.g. the eigenvectors of a previous call on a nearby operator (``DomBulkTracker``). The
guess enters as one start vector, the sum of its columns, so that a single Krylov
sequence refines all its directions at once (Lanczos converges every eigenvalue its
start vector weighs well, and from a vector inside an exactly invariant j-dimensional
subspace it stops after j products). A block start with Rayleigh-Ritz on the guess
would need block-Krylov expansion (j products per step) to correct its pairs: with a
single following sequence its residuals outside that sequence never shrink. Later
processes start at random as before, so eigenvalues the guess misses are still found.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch
from torch.linalg import vector_norm

from .operators import Operator
from .results import EigenResult

WHICH = ("LA", "LM")


# DGKS (Daniel, Gragg, Kaufman & Stewart 1976): a second Gram-Schmidt pass is needed
# only when the first removed most of the vector, ||w'|| < ||w|| / sqrt(2); otherwise one
# classical pass already leaves w orthogonal to working precision.
DGKS_RATIO = 1.0 / math.sqrt(2.0)
# Ritz values are computed (a tridiagonal eig and a sort on the host) every few steps
# only; a process runs at most CHECK_EVERY - 1 products past its convergence point.
CHECK_EVERY = 4

_STEVD = scipy.linalg.get_lapack_funcs("stevd", dtype=np.float64)


def _host_floats(*scalars: torch.Tensor) -> list[float]:
    """0-d tensors as Python floats: one ``float`` each on the CPU (a stack and a copy
    cost more than the reads), one stacked transfer (one synchronisation) elsewhere."""
    if scalars[0].device.type == "cpu":
        return [float(x) for x in scalars]
    return torch.stack(scalars).tolist()


# Default Ritz-residual tolerance, from the accuracy-per-HVP table of bench/lanczos.py
# (top-10, AWB-T d=64 kappa=1e4 and the digits MLP): eigenvalue errors fall like tol^2,
# eigenvector errors like tol / relative gap. 1e-6 gives <= 4e-13 relative eigenvalue
# error on both in 132 / 144 HVPs where 1e-8 spends 144 / 160 for roundoff-level
# values, and keeps Ritz vectors to ~1e-6 / gap (1e-4 saves 10% more HVPs but its
# vectors, ~1e-5 off on the AWB-T multiplicity groups, are too coarse for subspaces).
DEFAULT_TOL = 1e-6


class LanczosWorkspace:
    """Row storage for Lanczos processes that run one after another (locking, or the
    probes of SLQ): each process writes over the rows of the one before, so a call writes
    its memory once, not once per process (on the CPU a first write to fresh memory costs
    page faults, about as much as a Gram-Schmidt pass here). ``rows`` holds the locked
    vectors and then the basis; ``products`` the raw products ``A v_j`` (optional)."""

    def __init__(self, op: Operator, n_rows: int, *, keep_products: bool) -> None:
        self.rows = torch.empty(n_rows, op.dim, dtype=op.dtype, device=op.device)
        self.products = torch.empty(n_rows, op.dim, dtype=op.dtype, device=op.device) if keep_products else None


class LanczosProcess:
    """One Lanczos sequence ``A V_j = V_j T_j + beta_j v_{j+1} e_j^T`` on the complement of
    ``deflate`` (orthonormal columns), with full reorthogonalisation against ``V_j`` and
    ``deflate``: the three-term recurrence, then one classical Gram-Schmidt pass, and a
    second only when DGKS asks for it.
    ``deflate`` and ``V_j`` share one row buffer, so each pass is two matrix-vector
    products however many vectors are locked.

    ``keep_products`` stores the raw products ``A v_j`` so that Ritz residuals can be
    checked against ``A`` itself, not against the recurrence. ``norm_hint`` is a known
    lower bound on ``||A||`` (scale of the invariance test). ``workspace`` lends the rows
    (at least ``len(deflate) + max_steps`` of them, with products if ``keep_products``);
    by default the process allocates its own. A process owns the workspace's rows until
    the next one is created on it.
    """

    def __init__(
        self,
        op: Operator,
        start: torch.Tensor,
        *,
        max_steps: int,
        deflate: torch.Tensor | None = None,
        keep_products: bool = False,
        norm_hint: float = 0.0,
        workspace: LanczosWorkspace | None = None,
    ) -> None:
        self.op = op
        n_locked = 0 if deflate is None else deflate.shape[1]
        if workspace is None:
            workspace = LanczosWorkspace(op, n_locked + max_steps, keep_products=keep_products)
        elif workspace.rows.shape[0] < n_locked + max_steps or (keep_products and workspace.products is None):
            raise ValueError(f"workspace holds {workspace.rows.shape[0]} rows"
                             f"{'' if workspace.products is not None or not keep_products else ' without products'}; "
                             f"this process needs {n_locked + max_steps}{' with products' if keep_products else ''}")
        # Stored as rows so that appending a vector is a contiguous write: the locked
        # vectors first, then the basis of this process.
        self._all_rows = workspace.rows[: n_locked + max_steps]
        if n_locked:
            self._all_rows[:n_locked] = deflate.T
        self._n_locked = n_locked
        self._rows = self._all_rows[n_locked:]
        self._product_rows = workspace.products[:max_steps] if keep_products else None
        self.alpha: list[float] = []
        self.beta: list[float] = []
        self.max_steps = max_steps
        # Running estimate of ||A|| (max ||A v_j||), seeded by ``norm_hint`` because the
        # operator may vanish on the deflated complement while being large elsewhere.
        self.norm_estimate = norm_hint
        self.invariant = False
        self._eps = torch.finfo(op.dtype).eps
        self._next, self._next_norm = self._project_out(start, 0)

    @property
    def n_steps(self) -> int:
        return len(self.alpha)

    @property
    def basis(self) -> torch.Tensor:
        """``V_j`` as a ``(dim, j)`` view."""
        return self._rows[: self.n_steps].T

    @property
    def products(self) -> torch.Tensor:
        """``A V_j`` as a ``(dim, j)`` view (requires ``keep_products``)."""
        return self._product_rows[: self.n_steps].T

    def _project_out(self, w: torch.Tensor, j: int) -> tuple[torch.Tensor, float]:
        """Remove the components of ``w`` along ``deflate`` and ``v_0..v_{j-1}`` (DGKS);
        return the result (a new tensor unless there is nothing to remove) and its norm."""
        n_rows = self._n_locked + j
        if n_rows == 0:
            return w, _host_floats(vector_norm(w))[0]
        rows = self._all_rows[:n_rows]
        before = vector_norm(w)
        w = torch.addmv(w, rows.T, rows @ w, alpha=-1.0)
        before, after = _host_floats(before, vector_norm(w))
        if after < DGKS_RATIO * before:
            w = torch.addmv(w, rows.T, rows @ w, alpha=-1.0)
            after = _host_floats(vector_norm(w))[0]
        return w, after

    def step(self) -> None:
        """Apply the operator once and extend the basis (or detect an invariant subspace).

        The three-term recurrence removes ``alpha_j v_j + beta_{j-1} v_{j-1}`` first (the
        components of ``A v_j`` known from the tridiagonal form), and one Gram-Schmidt
        pass against the locked vectors and the basis then removes what roundoff left;
        that pass only removes ``O(eps ||A v_j||)``, so DGKS rarely asks for a second one
        (measured against ``A v_j`` itself, DGKS fired at almost every step because the
        known components alone carry most of its norm).
        """
        j = self.n_steps
        if self.invariant or j >= self.max_steps:
            raise RuntimeError(f"Lanczos process cannot extend past step {j}")
        beta_prev = self.beta[-1] if self.beta else self._next_norm
        v = torch.div(self._next, beta_prev, out=self._rows[j])
        w = self.op.matvec(v)
        if self._product_rows is not None:
            self._product_rows[j] = w
        alpha, w_norm = _host_floats(torch.dot(v, w), vector_norm(w))
        self.alpha.append(alpha)
        self.norm_estimate = max(self.norm_estimate, w_norm)
        w = torch.add(w, v, alpha=-alpha)  # a new tensor: the operator's output is not ours
        if j > 0:
            w.sub_(self._rows[j - 1], alpha=beta_prev)
        w, beta = self._project_out(w, j + 1)
        self.beta.append(beta)
        self._next = w
        # Below roundoff the residual carries no direction of A's range: the Krylov
        # space is invariant and every Ritz pair is exact.
        self.invariant = beta <= 100.0 * self._eps * self.norm_estimate

    def tridiagonal_eigh(self) -> tuple[np.ndarray, np.ndarray]:
        """Ritz values (ascending) and eigenvectors of ``T_j`` (small, on the host)."""
        d = np.array(self.alpha, dtype=np.float64)
        if d.size == 1:
            return d, np.ones((1, 1))
        # LAPACK's stevd, the driver scipy.linalg.eigh_tridiagonal picks for all
        # eigenpairs, called directly: the wrapper's checks cost a quarter of the call.
        theta, s, info = _STEVD(d, np.array(self.beta[:-1], dtype=np.float64), compute_v=1)
        if info:
            raise np.linalg.LinAlgError(f"stevd failed on the Lanczos tridiagonal (info={info})")
        return theta, s


@dataclass(frozen=True)
class _Pairs:
    values: torch.Tensor  # (n,)
    rows: torch.Tensor  # (n, dim): the vectors as rows, so selecting pairs copies rows
    residuals: torch.Tensor  # (n,)
    converged: torch.Tensor  # (n,) bool

    @staticmethod
    def empty(op: Operator) -> _Pairs:
        z = torch.empty(0, dtype=op.dtype, device=op.device)
        return _Pairs(z, torch.empty(0, op.dim, dtype=op.dtype, device=op.device), z,
                      torch.empty(0, dtype=torch.bool, device=op.device))

    def concat(self, other: _Pairs) -> _Pairs:
        return _Pairs(
            torch.cat([self.values, other.values]),
            torch.cat([self.rows, other.rows]),
            torch.cat([self.residuals, other.residuals]),
            torch.cat([self.converged, other.converged]),
        )

    def select(self, index: torch.Tensor) -> _Pairs:
        return _Pairs(self.values[index], self.rows[index], self.residuals[index],
                      self.converged[index])


def _key(values: torch.Tensor | np.ndarray, which: str):
    return abs(values) if which == "LM" else values


def _top(pairs: _Pairs, k: int, which: str) -> _Pairs:
    order = torch.argsort(_key(pairs.values, which), descending=True, stable=True)
    return pairs.select(order[:k])


class _Criterion:
    """Ritz residual test ``||A y - theta y|| <= tol |theta|``, floored at the roundoff
    level ``10 sqrt(dim) eps ||A||`` so that (near-)zero eigenvalues can converge."""

    def __init__(self, op: Operator, tol: float) -> None:
        self.tol = tol
        self.floor_factor = 10.0 * math.sqrt(op.dim) * torch.finfo(op.dtype).eps

    def bound(self, theta, norm_estimate: float):
        return np.maximum(self.tol * np.abs(theta), self.floor_factor * norm_estimate)


def _ritz_pairs(process: LanczosProcess, theta: np.ndarray, s: np.ndarray, idx: np.ndarray,
                criterion: _Criterion) -> _Pairs:
    """Ritz pairs ``idx`` of ``process`` with residuals computed from the stored products."""
    op = process.op
    coeff = torch.as_tensor(s[:, idx].T.copy(), dtype=op.dtype, device=op.device)  # (k, j)
    values = torch.as_tensor(theta[idx], dtype=op.dtype, device=op.device)
    vector_rows = coeff @ process.basis.T
    residuals = (coeff @ process.products.T - values[:, None] * vector_rows).norm(dim=1)
    bound = criterion.bound(theta[idx], process.norm_estimate)
    converged = residuals.cpu().numpy() <= bound
    return _Pairs(values, vector_rows, residuals, torch.as_tensor(converged, device=op.device))


def _top_order(theta: np.ndarray, k: int, which: str) -> np.ndarray:
    return np.argsort(-_key(theta, which), kind="stable")[:k]


def _run_is_done(keys: np.ndarray, converged: np.ndarray, k: int, threshold: float) -> bool:
    """Whether a process may stop, given its top Ritz keys (descending) and their flags:
    the pairs must be converged in order until k of them are, or until one converged pair
    falls at or below ``threshold`` (the k-th locked key), below which nothing enters."""
    for key, good in zip(keys, converged):
        if not good:
            return False
        if key <= threshold:
            return True
    return len(keys) == k


def _random_start(op: Operator, generator: torch.Generator) -> torch.Tensor:
    # Drawn on the CPU so the start vector, hence the result, is the same on every device.
    return torch.randn(op.dim, generator=generator, dtype=torch.float64).to(op.device, op.dtype)


def _warm_start(op: Operator, v0: torch.Tensor) -> torch.Tensor:
    """The start vector of ``v0``: itself, or the sum of the columns of a block."""
    if v0.ndim not in (1, 2) or v0.shape[0] != op.dim or (v0.ndim == 2 and v0.shape[1] < 1):
        raise ValueError(f"v0 must have shape (dim,) or (dim, j) with dim={op.dim} and j >= 1, "
                         f"got {tuple(v0.shape)}")
    start = v0.detach().to(device=op.device, dtype=op.dtype).reshape(op.dim, -1).sum(dim=1)
    if not bool(torch.isfinite(start).all()) or not float(start.norm()) > 0:
        raise ValueError("v0 must be finite with a nonzero sum of columns")
    return start


def _extend_until_done(process: LanczosProcess, k: int, which: str, threshold: float,
                       criterion: _Criterion) -> _Pairs:
    """Step ``process`` until its top pairs pass ``_run_is_done`` (or it is invariant or
    full) and return its top-k Ritz pairs with true residuals and flags."""
    while True:
        process.step()
        exhausted = process.invariant or process.n_steps == process.max_steps
        if not exhausted and process.n_steps % CHECK_EVERY:
            continue
        theta, s = process.tridiagonal_eigh()
        idx = _top_order(theta, k, which)
        keys = _key(theta[idx], which)
        if not exhausted:
            # Cheap estimates |beta_j s_{j,i}| first, confirmed with true residuals.
            estimates = np.abs(process.beta[-1] * s[-1, idx])
            bound = criterion.bound(theta[idx], process.norm_estimate)
            if not _run_is_done(keys, estimates <= bound, k, threshold):
                continue
        found = _ritz_pairs(process, theta, s, idx, criterion)
        if exhausted or _run_is_done(keys, found.converged.cpu().numpy(), k, threshold):
            return found


def default_max_iter(k: int) -> int:
    """Default HVP budget: room for a few locked Lanczos processes of ``max(2k+20, 30)`` steps."""
    return max(6 * max(2 * k + 20, 30), 30 * k)


def lanczos(
    op: Operator,
    k: int,
    *,
    which: str = "LA",
    tol: float = DEFAULT_TOL,
    max_iter: int | None = None,
    seed: int = 0,
    v0: torch.Tensor | None = None,
) -> EigenResult:
    """Top-k eigenpairs of the symmetric operator ``op`` (SPEC section 4 and 10).

    which: ``"LA"`` largest algebraic, ``"LM"`` largest magnitude.
    tol: a pair is converged when ``||A y - theta y||_2 <= tol |theta|`` (checked with the
        true products ``A y``, floored at roundoff level for eigenvalues near zero);
        default ``DEFAULT_TOL`` = 1e-6 (see its comment for the measurement).
    max_iter: total operator applications allowed (default ``default_max_iter``).
    seed: seeds a local CPU ``torch.Generator`` for the random start vectors.
    v0: warm start of the first Lanczos process: a vector ``(dim,)`` or a block
        ``(dim, j)`` whose columns are summed (pass orthonormal columns, e.g. the
        eigenvectors of a previous call, to weigh their directions equally). The later
        processes start at random. Without it every start is random.
    Works in the operator's dtype and device (float64 recommended for tight ``tol``).
    Eigenvalues are returned in descending order of value (LA) or magnitude (LM).
    """
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    if not 1 <= k <= op.dim:
        raise ValueError(f"k must be in [1, dim={op.dim}], got {k}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")
    budget = default_max_iter(k) if max_iter is None else max_iter
    if budget < k:
        raise ValueError(f"max_iter must be >= k={k}, got {budget}")

    start = None if v0 is None else _warm_start(op, v0)
    generator = torch.Generator().manual_seed(seed)
    criterion = _Criterion(op, tol)
    locked = _Pairs.empty(op)
    leftover = _Pairs.empty(op)
    n_matvec = 0
    norm_estimate = 0.0
    workspace = LanczosWorkspace(op, k + min(budget, op.dim), keep_products=True)
    while True:
        capacity = min(budget - n_matvec, op.dim - locked.values.numel())
        if capacity <= 0:
            break
        full = locked.values.numel() >= k
        threshold = float(_key(locked.values[k - 1], which)) if full else -math.inf
        if start is None:
            start = _random_start(op, generator)
        process = LanczosProcess(op, start, max_steps=capacity,
                                 deflate=locked.rows.T, keep_products=True, norm_hint=norm_estimate,
                                 workspace=workspace)
        found = _extend_until_done(process, k, which, threshold, criterion)
        n_matvec += process.n_steps
        start = None
        norm_estimate = process.norm_estimate
        new = found.select(found.converged)
        leftover = found.select(~found.converged)
        gained = bool((_key(new.values, which) > threshold + tol * abs(threshold)).any()) \
            if full else new.values.numel() > 0
        locked = _top(locked.concat(new), k, which)
        if not gained:
            break
    result = _top(locked.concat(leftover), k, which)
    return EigenResult(
        eigenvalues=result.values,
        eigenvectors=result.rows.T.contiguous(),
        residuals=result.residuals,
        converged=result.converged,
        n_matvec=n_matvec,
    )
