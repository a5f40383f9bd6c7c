"""River-valley landscapes, SPEC 2.3 (the AMUSE river/wall picture, Wen et al. 2024).

For ``W`` in R^{m x n}: ``w = Q^T vec(W)`` (row-major vec; ``Q = I`` or a seeded Haar
rotation), ``w = (x, y)`` with ``p`` river coordinates x and ``q = mn - p`` wall
coordinates y, ``h_j(x) = a sin(k x_{j mod p})`` (``h = 0`` for ``kind="straight"``):

    f(W) = sum_i mu/2 (x_i - x*_i)^2 + sum_j lambda_j/2 (y_j - h_j(x))^2,

``lambda_j`` log-spaced in ``[10, 10 kappa_wall]``. The minimum is ``x = x*``,
``y = h(x*)`` with ``f = 0``.

Subspaces: at any point the valley-wall normals ``grad (y_j - h_j(x))`` span the range
of the wall term's Gauss-Newton matrix (curvature ~lambda_j >= 10) and the river
tangents ``e_{x_c} + sum_{j mod p = c} h_j'(x) e_{y_j}`` (curvature ~mu) are orthogonal
to them. For ``straight`` these are exactly the top-q / bottom-p Hessian eigenspaces
everywhere; for ``curved`` the top-q eigenspace at the minimum is tilted from the wall
normals by O(mu |a k| / lambda) (Davis-Kahan), since the mu term couples them.

Gradient noise (``stochastic_grad``, ``stochastic_loss``) is drawn fresh per step from
``(seed, step)`` in the w coordinates and rotated back with Q: ``gaussian`` (std
``noise_std`` on every coordinate), ``anisotropic`` (``noise_std`` on the river, 4x on
the walls) or ``student_t`` (df 3, rescaled to standard deviation ``noise_std``).
A runner either sets ``param.grad = stochastic_grad(W, step)``, or back-propagates
``stochastic_loss(W, step) = f(W) + <xi, W>`` (a surrogate whose gradient is the same
``grad f + xi``); the loss to log is always the exact ``loss(W)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from muonlab.schema import SEED, Schema, at_least, finite, flag, int_at_least, one_of
from muonlab.toyproblems.orthogonal import haar_orthogonal
from muonlab.streams import step_rng

KINDS = ("straight", "curved")
NOISES = ("none", "gaussian", "anisotropic", "student_t")


@dataclass(frozen=True)
class RiverValleySettings(Schema):
    """The settings of :class:`RiverValley` (a study's ``[problem]`` keys; SPEC 2.3)."""

    owner: ClassVar[str] = "RiverValley"
    m: int = at_least(1, 16, "rows of W")
    n: int = at_least(1, 16, "columns of W (one river coordinate per column; m * n >= 2)")
    kind: str = one_of(KINDS, "straight", "valley shape")
    rotated: bool = flag(False, "Haar-rotate the river/wall coordinates")
    mu: float = at_least(0.0, 0.1, "river curvature", strict=True)
    kappa_wall: float = at_least(1.0, 10.0, "wall curvatures log-spaced in [10, 10 kappa_wall]")
    x_star: float = finite(5.0, "river target")
    a: float = finite(1.0, "curved-wall amplitude")
    k: float = finite(0.5, "curved-wall frequency")
    noise: str = one_of(NOISES, "none", "gradient noise kind")
    noise_std: float = at_least(0.0, 0.0, "gradient noise standard deviation")

    @classmethod
    def joint(cls, values: Mapping[str, Any]) -> tuple[str, str] | None:
        """One river and one wall coordinate at least."""
        if values["m"] * values["n"] < 2:
            return "n", f"m * n must be >= 2 (one river and one wall), got {values['m']} * {values['n']}"
        return None
WALL_NOISE_FACTOR = 4.0
STUDENT_T_DF = 3.0


class _RiverMath:
    """Loss, gradient and metrics on ``(..., m, n)`` tensors; shared by the single and
    the seed-batched landscape (``Q`` is None, ``(mn, mn)`` or ``(S, mn, mn)``)."""

    m: int
    n: int
    p: int
    kind: str
    mu: float
    a: float
    k: float
    Q: Tensor | None
    lam: Tensor
    x_star: Tensor
    coupling: Tensor  # j -> j mod p, the river coordinate wall j follows
    W0: Tensor

    def _to_w(self, W: Tensor) -> Tensor:
        vec = W.reshape(*W.shape[:-2], self.m * self.n)
        return vec if self.Q is None else (vec.unsqueeze(-2) @ self.Q).squeeze(-2)

    def _from_w(self, w: Tensor) -> Tensor:
        vec = w if self.Q is None else (self.Q @ w.unsqueeze(-1)).squeeze(-1)
        return vec.reshape(*w.shape[:-1], self.m, self.n)

    def _split(self, W: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """River coordinates x, wall coordinates y and the wall offsets ``y - h(x)``."""
        w = self._to_w(W)
        x, y = w[..., : self.p], w[..., self.p:]
        return x, y, y - self._wall_height(x)

    def _wall_height(self, x: Tensor) -> Tensor:
        """``h_j(x) = a sin(k x_{j mod p})`` (zero for the straight river)."""
        if self.kind == "straight":
            return torch.zeros(*x.shape[:-1], self.lam.shape[0], dtype=x.dtype, device=x.device)
        return self.a * torch.sin(self.k * x[..., self.coupling])

    def _wall_slope(self, x: Tensor) -> Tensor:
        """``h_j'(x) = a k cos(k x_{j mod p})`` (zero for the straight river)."""
        if self.kind == "straight":
            return torch.zeros(*x.shape[:-1], self.lam.shape[0], dtype=x.dtype, device=x.device)
        return self.a * self.k * torch.cos(self.k * x[..., self.coupling])

    def loss(self, W: Tensor) -> Tensor:
        """``f(W)`` over the last two axes (SPEC 2.3)."""
        x, _, r = self._split(W)
        return 0.5 * self.mu * (x - self.x_star).square().sum(-1) + self.wall_energy_from(r)

    def wall_energy_from(self, r: Tensor) -> Tensor:
        return 0.5 * (self.lam * r.square()).sum(-1)

    def wall_energy(self, W: Tensor) -> Tensor:
        """``sum_j lambda_j/2 (y_j - h_j(x))^2``."""
        return self.wall_energy_from(self._split(W)[2])

    def river_progress(self, W: Tensor) -> Tensor:
        """``||x_0 - x*|| - ||x - x*||`` with ``x_0`` the river coordinates of ``W_0``."""
        x0 = self._split(self.W0)[0]
        x = self._split(W)[0]
        return torch.linalg.vector_norm(x0 - self.x_star, dim=-1) - \
            torch.linalg.vector_norm(x - self.x_star, dim=-1)

    def grad(self, W: Tensor) -> Tensor:
        """Analytic gradient: ``df/dy = lambda r``, ``df/dx = mu (x - x*) - sum_j
        lambda_j r_j h_j'(x)`` scattered onto ``x_{j mod p}``, rotated back by Q."""
        x, _, r = self._split(W)
        gy = self.lam * r
        gx = (self.mu * (x - self.x_star)).index_add(-1, self.coupling, -gy * self._wall_slope(x))
        return self._from_w(torch.cat([gx, gy], dim=-1))


class RiverValley(_RiverMath):
    """A river-valley landscape of SPEC 2.3 (one seeded instance).

    Args:
        m, n: parameter shape ``(m, n)``, ``m n >= 2``.
        kind: ``"straight"`` or ``"curved"``.
        rotated: rotate the (x, y) coordinates by a seeded Haar ``Q`` (``mn x mn``).
        seed: seeds Q and the per-step noise.
        mu: river curvature (> 0).  kappa_wall: wall curvatures span ``[10, 10 kappa_wall]``.
        x_star: river target, scalar or ``p`` values.  a, k: curved-wall amplitude and
            frequency.  p: number of river coordinates, ``1 <= p < mn`` (default n).
        noise, noise_std: gradient-noise kind (none|gaussian|anisotropic|student_t) and
            standard deviation (>= 0).
        dtype, device: of the exposed tensors (built in float64, then cast).
    """

    def __init__(self, m: int = RiverValleySettings.m, n: int = RiverValleySettings.n,
                 kind: str = RiverValleySettings.kind, rotated: bool = RiverValleySettings.rotated,
                 seed: int = 0, *, mu: float = RiverValleySettings.mu, kappa_wall: float = RiverValleySettings.kappa_wall,
                 x_star: float | Sequence[float] = RiverValleySettings.x_star, a: float = RiverValleySettings.a,
                 k: float = RiverValleySettings.k, p: int | None = None, noise: str = RiverValleySettings.noise,
                 noise_std: float = RiverValleySettings.noise_std,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        owner = "RiverValley"
        # A vector x_star (p values) is checked below; the schema checks a scalar one.
        scalar_x = np.ndim(x_star) == 0
        s = RiverValleySettings(m=m, n=n, kind=kind, rotated=rotated, mu=mu, kappa_wall=kappa_wall,
                                x_star=x_star if scalar_x else RiverValleySettings.x_star, a=a, k=k,
                                noise=noise, noise_std=noise_std)
        self.m, self.n, self.kind, self.rotated = s.m, s.n, s.kind, s.rotated
        self.mu, self.kappa_wall, self.a, self.k, self.noise, self.noise_std = s.mu, s.kappa_wall, s.a, s.k, s.noise, s.noise_std
        self.seed = SEED.coerce(seed, f"{owner}.seed")
        dim = self.m * self.n
        self.p = self.n if p is None else int_at_least("p", 1, None).coerce(p, f"{owner}.p")
        if self.p >= dim:
            raise ValueError(f"{owner}: p must be in [1, m*n - 1] = [1, {dim - 1}], got {self.p}")
        self.q = dim - self.p
        self.dtype, self.device = dtype, torch.device(device)

        x_star64 = torch.as_tensor(x_star, dtype=torch.float64).expand(self.p).clone() \
            if np.ndim(x_star) == 0 else torch.as_tensor(x_star, dtype=torch.float64)
        if x_star64.shape != (self.p,) or not torch.isfinite(x_star64).all():
            raise ValueError(f"{owner}: x_star must be a finite number or {self.p} finite numbers, "
                             f"got {x_star!r}")
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self._Q64 = haar_orthogonal(dim, gen) if rotated else None
        cast = self._cast
        self.Q = None if self._Q64 is None else cast(self._Q64)
        self.lam = cast(torch.logspace(1.0, 1.0 + math.log10(self.kappa_wall), self.q,
                                       dtype=torch.float64))
        self.x_star = cast(x_star64)
        self.coupling = torch.arange(self.q, device=self.device) % self.p
        self.W0 = torch.zeros(m, n, dtype=dtype, device=self.device)
        self._noise_scale = torch.cat([torch.ones(self.p, dtype=torch.float64),
                                       torch.full((self.q,), WALL_NOISE_FACTOR if noise == "anisotropic"
                                                  else 1.0, dtype=torch.float64)])

    @classmethod
    def from_settings(cls, settings: RiverValleySettings, seed: int = 0, *, dtype: torch.dtype = torch.float32,
                      device: str | torch.device = "cpu") -> "RiverValley":
        """The instance of ``settings`` for ``seed``."""
        return cls(**settings.kwargs(), seed=seed, dtype=dtype, device=device)

    def _cast(self, x: Tensor) -> Tensor:
        return x.to(device=self.device, dtype=self.dtype)

    @property
    def W_min(self) -> Tensor:
        """The minimizer: ``x = x*``, ``y = h(x*)`` (``f = 0``)."""
        return self._from_w(torch.cat([self.x_star, self._wall_height(self.x_star)]))

    def _frame(self, W: Tensor | None) -> tuple[Tensor, Tensor]:
        """Orthonormal river tangents ``(mn, p)`` and wall normals ``(mn, q)`` at W
        (default: the minimum), float64, in row-major vec(W) coordinates."""
        W = self.W_min if W is None else W
        slope = self._wall_slope(self._split(W)[0]).to("cpu", torch.float64)
        dim, p, cols = self.m * self.n, self.p, torch.arange(self.q)
        tangents = torch.zeros(dim, p, dtype=torch.float64)
        tangents[torch.arange(p), torch.arange(p)] = 1.0
        tangents[p + cols, cols % p] = slope
        normals = torch.zeros(dim, self.q, dtype=torch.float64)
        normals[p + cols, cols] = 1.0
        normals[cols % p, cols] = -slope
        river = tangents / torch.linalg.vector_norm(tangents, dim=0)
        wall = torch.linalg.qr(normals).Q
        if self._Q64 is not None:
            river, wall = self._Q64 @ river, self._Q64 @ wall
        return river, wall

    def river_basis(self, W: Tensor | None = None) -> Tensor:
        """``(mn, p)`` orthonormal river (bulk) directions at W (default the minimum)."""
        return self._cast(self._frame(W)[0])

    def wall_basis(self, W: Tensor | None = None) -> Tensor:
        """``(mn, q)`` orthonormal wall (dominant) directions at W (default the minimum);
        the orthogonal complement of :meth:`river_basis`."""
        return self._cast(self._frame(W)[1])

    def hessian(self, W: Tensor) -> Tensor:
        """Dense ``(mn, mn)`` Hessian at W in row-major vec(W) (autograd; small sizes)."""
        flat = W.reshape(-1)
        return torch.autograd.functional.hessian(lambda v: self.loss(v.reshape(self.m, self.n)), flat)

    def gradient_noise(self, step: int) -> Tensor:
        """The step's noise ``xi`` ``(m, n)``, a pure function of ``(seed, step)``."""
        if self.noise == "none" or self.noise_std == 0.0:
            return torch.zeros(self.m, self.n, dtype=self.dtype, device=self.device)
        rng = step_rng(self.seed, step, "river_noise")
        dim = self.m * self.n
        if self.noise == "student_t":
            z = rng.standard_t(STUDENT_T_DF, dim) / math.sqrt(STUDENT_T_DF / (STUDENT_T_DF - 2.0))
        else:
            z = rng.standard_normal(dim)
        xi_w = self.noise_std * self._noise_scale * torch.from_numpy(z)
        xi = xi_w if self._Q64 is None else self._Q64 @ xi_w
        return self._cast(xi.reshape(self.m, self.n))

    def stochastic_grad(self, W: Tensor, step: int) -> Tensor:
        """``grad f(W) + xi_step``."""
        return self.grad(W) + self.gradient_noise(step)

    def stochastic_loss(self, W: Tensor, step: int) -> Tensor:
        """Surrogate ``f(W) + <xi_step, W>`` whose autograd gradient is ``stochastic_grad``."""
        return self.loss(W) + (self.gradient_noise(step) * W).sum()


class RiverValleyBatch(_RiverMath):
    """S river valleys differing only in seed, stacked on a leading seed axis.

    Slice ``i`` equals ``problems[i]`` exactly; :meth:`loss`, :meth:`wall_energy`,
    :meth:`river_progress` return ``(S,)``, :meth:`grad` and noise ``(S, m, n)``.
    """

    _SHARED = ("m", "n", "p", "q", "kind", "rotated", "mu", "kappa_wall", "a", "k",
               "noise", "noise_std", "dtype", "device")

    def __init__(self, problems: Sequence[RiverValley]) -> None:
        if not problems:
            raise ValueError("RiverValleyBatch: problems must be a non-empty sequence")
        first = problems[0]
        if any(tuple(getattr(p, f) for f in self._SHARED) != tuple(getattr(first, f) for f in self._SHARED)
               or not torch.equal(p.x_star, first.x_star) for p in problems):
            raise ValueError("RiverValleyBatch: problems must share every setting but the seed")
        self.problems = tuple(problems)
        for name in self._SHARED:
            setattr(self, name, getattr(first, name))
        self.lam, self.x_star, self.coupling = first.lam, first.x_star, first.coupling
        self.Q = None if first.Q is None else torch.stack([p.Q for p in problems])
        self.W0 = torch.stack([p.W0 for p in problems])

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], m: int, n: int, **settings: object) -> "RiverValleyBatch":
        """One :class:`RiverValley` per seed, same settings, stacked."""
        return cls([RiverValley(m, n, seed=s, **settings) for s in seeds])

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(p.seed for p in self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def gradient_noise(self, step: int) -> Tensor:
        """``(S, m, n)``: slice i is ``problems[i].gradient_noise(step)``."""
        return torch.stack([p.gradient_noise(step) for p in self.problems])

    def stochastic_grad(self, W: Tensor, step: int) -> Tensor:
        return self.grad(W) + self.gradient_noise(step)

    def stochastic_loss(self, W: Tensor, step: int) -> Tensor:
        """``(S,)`` surrogates ``f_i(W_i) + <xi_i, W_i>``."""
        return self.loss(W) + (self.gradient_noise(step) * W).sum(dim=(-2, -1))
