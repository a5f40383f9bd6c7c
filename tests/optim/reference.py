"""Float64 transcriptions shared by the optimizer tests (independent of muonlab.optim)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

A, B, C = 3.4445, -4.7750, 2.0315
EPS32 = 2.0**-24
# max |p'(s)| of the NS5 quintic p(s) = A s + B s^3 + C s^5 on the iterates' range [0, 1.2]
NS5_SLOPE = 3.9


def ns5_float32_bound(m: int, n: int, steps: int = 5) -> float:
    """Per-entry bound on the difference of a float32 NS5 from the exact one (or from
    another float32 NS5 that sums in another order: AVX2 vs AVX-512, bmm vs mm).

    Each iteration does 3 matmuls of inner size <= max(m, n): relative error
    <= 3 max(m, n) eps32 on entries <= 1.2 (gamma_n, eps32 = 2**-24). An error made in
    iteration k is amplified by at most NS5_SLOPE per later iteration, so the output's
    error is <= 1.2 * 3 max(m, n) eps32 * sum_k NS5_SLOPE**k (worst case; typical
    rounding is far smaller).
    """
    return 1.2 * 3 * max(m, n) * EPS32 * sum(NS5_SLOPE**k for k in range(steps))


def ns5_float32_total_bound(m: int, n: int, steps: int = 5) -> float:
    """Per-entry bound on |NS5_32(U) - NS5(U)| for a float32 m x n input U, its
    normalization included and for any U: ns5_float32_bound plus the norm's rounding
    ((m n / 2 + 3) eps32 relative on X = U / ||U||_F, |X| <= 1) amplified by the worst-case
    slope NS5_SLOPE per iteration."""
    return ns5_float32_bound(m, n, steps) + NS5_SLOPE**steps * (m * n / 2 + 3) * EPS32


def ns5_f64(G: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """SPEC-optim NS5, written out in float64 for one matrix."""
    X = G.double()
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    X = ns5_iterations_f64(X / (torch.sqrt((X * X).sum()) + 1e-7), steps)
    return X.T if tall else X


def ns5_iterations_f64(X: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """The NS5 quintic iterations on an already normalized wide X (m <= n), float64."""
    for _ in range(steps):
        Agram = X @ X.T
        Bpoly = B * Agram + C * Agram @ Agram
        X = A * X + Bpoly @ X
    return X


def normuon_row_scaled(O: torch.Tensor, v_prev: torch.Tensor, b2: float, eps: float) -> torch.Tensor:
    """NorMuon's O_hat (SPEC-optim): the row second moments' EMA, then O's rows divided by
    their square roots."""
    v = b2 * v_prev + (1 - b2) * (O * O).mean(dim=1)
    return O / torch.sqrt(v + eps)[:, None]


def normuon_update(O: torch.Tensor, v_prev: torch.Tensor, b2: float, eps: float, c: float) -> torch.Tensor:
    """NorMuon's step eta_hat O_hat, eta_hat = c / ||O_hat||_F (c = rms lr sqrt(m n))."""
    O_hat = normuon_row_scaled(O, v_prev, b2, eps)
    return c * O_hat / (O_hat.norm() + eps)


def normuon_eta_rel_bound(O: torch.Tensor, v_prev: torch.Tensor, b2: float, eps: float,
                          o_error: float, v_error: float) -> float:
    """Relative bound on eta_hat = c / ||O_hat||_F when O and v_prev are off by <= o_error
    and v_error per entry: ||dO_hat||_F / ||O_hat||_F (dO_hat through the Jacobians of
    normuon_row_scaled, sqrt(m n) per entry) plus the norm's (m n / 2 + 4) eps32."""
    O_hat = normuon_row_scaled(O, v_prev, b2, eps)
    d = (jacobian_inf_norm(normuon_row_scaled, O, 0, v_prev, b2, eps) * o_error
         + jacobian_inf_norm(normuon_row_scaled, v_prev, 1, O, b2, eps) * v_error)
    return math.sqrt(O.numel()) * d / O_hat.norm().item() + (O.numel() / 2 + 4) * EPS32


def gradient_sequence(shape: tuple[int, ...], steps: int, seed: int, dtype=torch.float32) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype) for _ in range(steps)]


def ema_float32_error(g_max: float, beta: float, nesterov: bool = False) -> float:
    """Per-entry bound on |U32 - U| for the momentum M = beta M + (1 - beta) G (U = M, or
    Nesterov's U = G + beta (M - G)) kept in float32 from the same float32 gradients,
    every |G| <= g_max (so |M| <= g_max).

    Each EMA update rounds 3 times (two products, one sum), <= 3 eps32 g_max, and an old
    error decays by beta: <= 3 eps32 g_max / (1 - beta). Nesterov's M - G, beta * () and
    G + () add <= (2 + 2 + 3) eps32 g_max.
    """
    return EPS32 * g_max * (3 / (1 - beta) + (7 if nesterov else 0))


def jacobian_inf_norm(f, x: torch.Tensor, argnum: int = 0, *args: torch.Tensor | float) -> float:
    """max_i sum_j |d f_i / d x_j| (the infinity-norm of the Jacobian, which turns a
    per-entry input error into a per-entry output error to first order) of
    f(*args[:argnum], x, *args[argnum:]) at x, in float64."""
    inputs = [a.double() if isinstance(a, torch.Tensor) else a for a in args]
    inputs.insert(argnum, x.double())
    J = torch.func.jacrev(f, argnums=argnum)(*inputs)
    return J.reshape(-1, x.numel()).abs().sum(dim=1).max().item()


def ns5_input_float32_bound(U: torch.Tensor, input_error: float) -> float:
    """Per-entry bound on |NS5_32(U32) - NS5(U)| (SPEC-optim NS5, m x n U, exact value U)
    when the float32 input U32 is off by <= input_error per entry.

    To first order (the errors are ~1e-5, their squares negligible): the input error
    passes through the Jacobian of NS5 at U, <= ||J_U||_inf input_error; the norm's
    rounding (m n squares summed, sqrt, division: <= (m n / 2 + 3) eps32 relative) scales
    X = U / ||U||_F, which passes through the iterations' Jacobian at X; NS5's own rounding
    adds ns5_float32_bound. The Jacobians are the problem's conditioning, computed in
    float64 at the exact U (far below the worst case NS5_SLOPE**5 on most inputs).
    """
    m, n = U.shape
    X = U.double() / U.double().norm()
    X = X.T if m > n else X
    norm_error = (m * n / 2 + 3) * EPS32 * X.abs().max().item()
    return (ns5_float32_bound(m, n) + jacobian_inf_norm(ns5_f64, U) * input_error
            + jacobian_inf_norm(ns5_iterations_f64, X) * norm_error)


def jacobian_spectral_norm(f, x: torch.Tensor, argnum: int = 0, *args: torch.Tensor | float) -> float:
    """The spectral norm of df/dx (as jacobian_inf_norm): turns a Frobenius-norm input
    error into a Frobenius-norm output error, to first order. For the Frobenius norm of
    an error it is up to sqrt(numel) tighter than sqrt(numel) times the infinity norm."""
    inputs = [a.double() if isinstance(a, torch.Tensor) else a for a in args]
    inputs.insert(argnum, x.double())
    J = torch.func.jacrev(f, argnums=argnum)(*inputs)
    return torch.linalg.matrix_norm(J.reshape(-1, x.numel()), 2).item()


def ns5_input_float32_fro_bound(U: torch.Tensor, input_error_fro: float) -> float:
    """Bound on ||NS5_32(U32) - NS5(U)||_F (exact value U, m x n) when the float32 input is
    off by <= input_error_fro in the Frobenius norm: ns5_input_float32_bound's three terms
    in the Frobenius norm (NS5's own per-entry rounding times sqrt(m n); the input error
    and the norm's (m n / 2 + 3) eps32 relative rounding of X = U / ||U||_F through the
    spectral norms of the Jacobians at U and X), first order."""
    m, n = U.shape
    X = U.double() / U.double().norm()
    X = X.T if m > n else X
    return (math.sqrt(m * n) * ns5_float32_bound(m, n) + jacobian_spectral_norm(ns5_f64, U) * input_error_fro
            + jacobian_spectral_norm(ns5_iterations_f64, X) * (m * n / 2 + 3) * EPS32)


def parameter_float32_bound(update_errors: Sequence[float], w_max: float, u_max: float) -> float:
    """Per-entry bound on |W32 - W| after steps W <- W (1 - lr wd) - u_t with FIXED gradients
    (no feedback through a loss, so the errors add up linearly; 1 - lr wd <= 1 does not grow
    them): step t's update is off by <= update_errors[t], and the float32 decay, product and
    subtraction round by <= 3 eps32 w_max + 2 eps32 u_max (|W| <= w_max, |u| <= u_max)."""
    return sum(update_errors) + len(update_errors) * EPS32 * (3 * w_max + 2 * u_max)
