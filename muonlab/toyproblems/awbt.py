"""AWB-T quadratic, eq. (T-44), SPEC 2.1.

``f(W) = 1/2 ||A W B - T||_F^2`` with ``A = U S_A U^T``, ``B = V S_B V^T``,
``S_A = S_B = diag(logspace(0, -log10(kappa)/4, d))``, ``T = A W_star B``.
``scale`` (default 1, SPEC 2.1's problem) multiplies the loss, its gradient and its
Hessian (SPEC 11): the paper's tables are at initial losses of 1e5-1e6, where fixed
``eps`` constants of an optimizer matter less than at scale 1.

Vector convention (SPEC 10): ``vec(W)`` is the row-major flattening ``W.reshape(-1)``.
In it the Hessian is ``A^2 (x) B^2`` (``vec_r(A X B) = (A (x) B^T) vec_r(X)`` and B is
symmetric); SPEC's ``B^2 (x) A^2`` is the same operator in column-major vec. Its
eigenvectors are ``vec_r(U[:, i] V[:, j]^T) = kron(U[:, i], V[:, j])`` with eigenvalues
``s_i^2 s_j^2``, so the condition number is ``(kappa^{1/4})^4 = kappa`` exactly.
Note that log-spacing makes ``s_i^2 s_j^2`` depend on ``i + j`` only: the spectrum has
2d - 1 distinct values with multiplicities up to d, so a top-k cut may split an
eigenspace (the order inside a tie is the deterministic index order).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from muonlab.schema import SEED, Schema, at_least, flag, int_at_least
from muonlab.toyproblems.orthogonal import haar_orthogonal


@dataclass(frozen=True)
class AWBTSettings(Schema):
    """The settings of :class:`AWBT` (a study's ``[problem]`` keys; SPEC 2.1)."""

    owner: ClassVar[str] = "AWBT"
    d: int = at_least(2, 64, "W is d x d")
    kappa: float = at_least(1.0, 1e4, "exact Hessian condition number")
    fix_V: bool = flag(True, "true: V = I (columns are B's eigen-axes); false: Haar-random V")
    scale: float = at_least(0.0, 1.0, "multiplies the loss (SPEC 11; 1 = SPEC 2.1)", strict=True)


def awbt_spectrum(d: int, kappa: float) -> Tensor:
    """``diag(S_A) = diag(S_B) = logspace(0, -log10(kappa)/4, d)`` in float64."""
    return torch.logspace(0.0, -math.log10(kappa) / 4.0, d, dtype=torch.float64)


class _AWBTMath:
    """Loss and gradient on ``(..., d, d)`` tensors; shared by the single and the
    seed-batched problem (tensors carry an optional leading seed axis)."""

    A: Tensor
    B: Tensor
    T: Tensor
    scale: float = 1.0

    def residual(self, W: Tensor) -> Tensor:
        """``A W B - T``."""
        return self.A @ W @ self.B - self.T

    def loss(self, W: Tensor) -> Tensor:
        """``scale/2 ||A W B - T||_F^2`` over the last two axes (eq. T-44)."""
        return (0.5 * self.scale) * self.residual(W).square().sum(dim=(-2, -1))

    def grad(self, W: Tensor) -> Tensor:
        """Analytic gradient ``scale A^T (A W B - T) B^T``."""
        return self.scale * (self.A.mT @ self.residual(W) @ self.B.mT)


class AWBT(_AWBTMath):
    """The AWB-T quadratic of SPEC 2.1 (one seeded instance).

    Args:
        d: matrix size (``W`` is ``d x d``), ``>= 2``.
        kappa: exact Hessian condition number, ``>= 1``.
        fix_V: ``True`` -> ``V = I`` (feature basis = W's own columns); ``False`` ->
            Haar-random ``V``.
        seed: seeds one generator; draws in order ``U, W_star, W0`` then ``V`` (only when
            ``fix_V`` is False), so the fix_V=True/False pair shares U, W_star and W0.
        scale: > 0, multiplies the loss (default 1: SPEC 2.1); draws do not depend on it.
        dtype, device: of the exposed tensors (built in float64 on CPU, then cast).
    """

    def __init__(self, d: int = AWBTSettings.d, kappa: float = AWBTSettings.kappa, fix_V: bool = AWBTSettings.fix_V,
                 seed: int = 0, *, scale: float = AWBTSettings.scale, dtype: torch.dtype = torch.float32,
                 device: str | torch.device = "cpu") -> None:
        checked = AWBTSettings(d=d, kappa=kappa, fix_V=fix_V, scale=scale)
        self.d, self.kappa, self.fix_V, self.scale = checked.d, checked.kappa, checked.fix_V, checked.scale
        self.seed = SEED.coerce(seed, "AWBT.seed")
        self.dtype, self.device = dtype, torch.device(device)

        gen = torch.Generator(device="cpu").manual_seed(seed)
        U = haar_orthogonal(d, gen)
        W_star = torch.randn(d, d, dtype=torch.float64, generator=gen) / math.sqrt(d)
        W0 = torch.randn(d, d, dtype=torch.float64, generator=gen) / math.sqrt(d)
        V = torch.eye(d, dtype=torch.float64) if fix_V else haar_orthogonal(d, gen)
        s = awbt_spectrum(d, self.kappa)
        A = (U * s) @ U.T
        B = (V * s) @ V.T
        self._s64, self._U64, self._V64 = s, U, V
        self._A2_64, self._B2_64 = (U * s**2) @ U.T, (V * s**2) @ V.T

        cast = self._cast
        self.U, self.V, self.A, self.B = cast(U), cast(V), cast(A), cast(B)
        self.W_star, self.W0, self.T = cast(W_star), cast(W0), cast(A @ W_star @ B)
        self._A2, self._B2 = cast(self.scale * self._A2_64), cast(self._B2_64)

    @classmethod
    def from_settings(cls, settings: AWBTSettings, seed: int = 0, *, dtype: torch.dtype = torch.float32,
                      device: str | torch.device = "cpu") -> "AWBT":
        """The instance of ``settings`` for ``seed``."""
        return cls(**settings.kwargs(), seed=seed, dtype=dtype, device=device)

    def _cast(self, x: Tensor) -> Tensor:
        return x.to(device=self.device, dtype=self.dtype)

    @property
    def dim(self) -> int:
        """Number of parameters ``d * d``."""
        return self.d * self.d

    def hessian_matvec(self, v: Tensor) -> Tensor:
        """``H v`` for flat row-major ``v`` of shape ``(d*d,)`` or columns ``(d*d, k)``:
        ``vec_r(A^2 X B^2)`` with ``X`` the matrix of ``v``."""
        cols = v.reshape(self.dim, -1).T.reshape(-1, self.d, self.d)
        out = (self._A2 @ cols @ self._B2).reshape(-1, self.dim).T
        return out.reshape(v.shape)

    def hessian(self) -> Tensor:
        """Dense ``(d*d, d*d)`` Hessian ``A^2 (x) B^2`` (row-major vec); for small d."""
        return self._cast(self.scale * torch.kron(self._A2_64, self._B2_64))

    def hessian_eigenpairs(self, k: int | None = None) -> tuple[Tensor, Tensor]:
        """Analytic top-``k`` eigenpairs (all when None): eigenvalues descending
        ``(k,)`` and eigenvectors ``kron(U[:, i], V[:, j])`` as columns ``(d*d, k)``."""
        k = self.dim if k is None else int_at_least("k", 1, None).coerce(k, "AWBT.hessian_eigenpairs.k")
        if k > self.dim:
            raise ValueError(f"AWBT.hessian_eigenpairs: k must be <= d*d = {self.dim}, got {k}")
        s2 = self._s64**2
        lam = self.scale * torch.outer(s2, s2).reshape(-1)
        order = torch.argsort(lam, descending=True, stable=True)[:k]
        i, j = order // self.d, order % self.d
        vecs = (self._U64[:, i].T.unsqueeze(2) * self._V64[:, j].T.unsqueeze(1)).reshape(k, -1).T
        return self._cast(lam[order]), self._cast(vecs)


class AWBTBatch(_AWBTMath):
    """S independent AWB-T instances stacked on a leading seed axis (issue 7).

    Slice ``s`` of every tensor equals the corresponding :class:`AWBT` tensor exactly;
    :meth:`loss` returns the ``(S,)`` per-seed losses and :meth:`grad` ``(S, d, d)``.
    """

    def __init__(self, problems: Sequence[AWBT]) -> None:
        if not problems:
            raise ValueError("AWBTBatch: problems must be a non-empty sequence of AWBT")
        if len({(p.d, p.scale, p.dtype, p.device) for p in problems}) != 1:
            raise ValueError("AWBTBatch: problems must share d, scale, dtype and device")
        self.problems = tuple(problems)
        self.d, self.scale = problems[0].d, problems[0].scale
        for name in ("U", "V", "A", "B", "T", "W_star", "W0"):
            setattr(self, name, torch.stack([getattr(p, name) for p in problems]))

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], *, d: int = AWBTSettings.d, kappa: float = AWBTSettings.kappa,
                   fix_V: bool = AWBTSettings.fix_V, scale: float = AWBTSettings.scale, dtype: torch.dtype = torch.float32,
                   device: str | torch.device = "cpu") -> "AWBTBatch":
        """One :class:`AWBT` per seed, same settings, stacked."""
        return cls([AWBT(d, kappa, fix_V, s, scale=scale, dtype=dtype, device=device) for s in seeds])

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(p.seed for p in self.problems)

    def __len__(self) -> int:
        return len(self.problems)
