"""Column-localized outlier injection, eq. (T-45), SPEC 2.2 (and T Appendix E.5).

At steps ``t`` with ``t % K_out == 0`` and ``t >= t_start`` a set ``J`` of ``s`` feature
indices is drawn from a generator seeded by ``(seed, t)`` and the target tensor ``X``
(the momentum, or a gradient before ``step()``) is changed in the feature basis ``V``:

- ``mode="multiplicative"``: ``X <- X + (a - 1) (X V_J) V_J^T``; with ``V = I`` this is
  exactly eq. (T-45), columns J scaled by ``a``.
- ``mode="additive"`` (ViT-style burst, T E.5): ``X <- X + alpha U_J V_J^T`` with
  ``alpha = rho ||X||_F / sqrt(d_out d_in)`` (optionally capped at ``alpha_max``) and the
  columns of ``U_J`` i.i.d. unit Gaussian directions, i.e. ``alpha u/||u||`` added to
  each selected column of ``X V``.

Every event is logged as ``(step, J)`` so analysis can align events with responses.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from muonlab.schema import SEED, Schema, at_least, one_of
from muonlab.streams import step_rng

SITES = ("momentum", "gradient")
MODES = ("multiplicative", "additive")
J_MODES = ("random", "fixed")


@dataclass(frozen=True)
class InjectionSettings(Schema):
    """The settings of :class:`OutlierInjection` (a study's ``[injection]`` keys; SPEC 2.2)."""

    owner: ClassVar[str] = "OutlierInjection"
    K_out: int = at_least(1, 50, "an event every K_out steps")
    s: int = at_least(1, 2, "columns per event (<= the problem's column count)")
    a: float = at_least(0.0, 10.0, "burst amplitude", strict=True)
    site: str = one_of(SITES, "momentum", "where the burst is applied")
    mode: str = one_of(MODES, "multiplicative", "eq. T-45 or the ViT-style additive burst")
    t_start: int | None = at_least(1, None, "first event step (default K_out)")
    J_mode: str = one_of(J_MODES, "random", "a fresh column set per event, or one for all")
    rho: float = at_least(0.0, 1.0, "additive mode: burst size relative to ||X||_F / sqrt(mn)", strict=True)
    alpha_max: float | None = at_least(0.0, None, "additive mode: cap on the burst size alpha (default: none)", strict=True)

MomentumHook = Callable[[Tensor, Tensor, int], None]


@dataclass(frozen=True)
class InjectionEvent:
    """One injection: the step, the selected feature indices J, and the seed slice
    (``None`` for an unbatched injection)."""

    step: int
    columns: tuple[int, ...]
    slice: int | None = None


def _feature_columns(V: Tensor | None, J: Tensor, like: Tensor) -> Tensor:
    """``V_J``: the ``(..., n, s)`` selected basis columns; ``V = None`` means ``I``, whose
    columns are one-hot, so the general formula reduces exactly to column scaling."""
    n = like.shape[-1]
    J = J.to(like.device)
    if V is None:  # the columns J of I, built directly (gathering from eye is slow)
        return torch.nn.functional.one_hot(J, n).mT.to(like.dtype)
    batch = torch.broadcast_shapes(V.shape[:-2], J.shape[:-1])
    V = V.to(dtype=like.dtype, device=like.device).expand(*batch, n, n)
    index = J.unsqueeze(-2).expand(*batch, n, J.shape[-1])
    return torch.gather(V, -1, index)


def _require_momentum_site(site: str) -> None:
    if site != "momentum":
        raise ValueError(f"OutlierInjection: momentum_hook needs site='momentum', got "
                         f"{site!r} (call apply() on the gradient instead)")


def _scale_features(X: Tensor, VJ: Tensor, a: float) -> None:
    """In place ``X <- X + (a - 1) (X V_J) V_J^T`` (eq. T-45 in basis V)."""
    X.add_((X @ VJ) @ VJ.mT, alpha=a - 1.0)


def _add_bursts(X: Tensor, VJ: Tensor, directions: Tensor, rho: float, alpha_max: float | None = None) -> None:
    """In place ``X <- X + alpha u/||u|| V_J^T`` per selected feature (T E.5), with
    ``alpha = rho ||X||_F / sqrt(d_out d_in)`` per matrix (before the burst), capped at
    ``alpha_max`` when given (T E.5's optional clip)."""
    m, n = X.shape[-2:]
    alpha = rho * torch.linalg.matrix_norm(X).unsqueeze(-1).unsqueeze(-1) / math.sqrt(m * n)
    if alpha_max is not None:
        alpha = alpha.clamp(max=alpha_max)
    unit = directions / torch.linalg.vector_norm(directions, dim=-2, keepdim=True)
    X.add_(alpha * (unit @ VJ.mT))


class OutlierInjection:
    """Scheduled, seeded column-localized outlier events (SPEC 2.2).

    Args:
        K_out: event period (``>= 1``); events at ``t % K_out == 0``.
        s: number of feature indices per event (``1 <= s <= n``, checked against the
            target's column count ``n`` by :meth:`check_columns` and at each event).
        a: multiplicative burst amplitude (``> 0``).
        site: ``"momentum"`` (through an optimizer's momentum hook) or ``"gradient"``
            (call :meth:`apply` on the gradient before ``step()``).
        mode: ``"multiplicative"`` (eq. T-45) or ``"additive"`` (T E.5).
        t_start: first step that may carry an event (default ``K_out``).
        seed: the run seed; J at step t comes from ``SeedSequence([seed, t, .])``.
        J_mode: ``"random"`` (fresh J per event) or ``"fixed"`` (one J for every event,
            drawn from the seed alone).
        rho: additive burst amplitude relative to ``||X||_F / sqrt(d_out d_in)`` (``> 0``).
        alpha_max: additive mode: cap on ``alpha`` (``> 0``), or None for no cap.
    """

    def __init__(self, *, K_out: int = InjectionSettings.K_out, s: int = InjectionSettings.s,
                 a: float = InjectionSettings.a, site: str = InjectionSettings.site, mode: str = InjectionSettings.mode,
                 t_start: int | None = InjectionSettings.t_start, seed: int = 0, J_mode: str = InjectionSettings.J_mode,
                 rho: float = InjectionSettings.rho, alpha_max: float | None = InjectionSettings.alpha_max) -> None:
        c = InjectionSettings(K_out=K_out, s=s, a=a, site=site, mode=mode, t_start=t_start, J_mode=J_mode,
                              rho=rho, alpha_max=alpha_max)
        self.K_out, self.s, self.a, self.site, self.mode = c.K_out, c.s, c.a, c.site, c.mode
        self.t_start = c.K_out if c.t_start is None else c.t_start
        self.seed = SEED.coerce(seed, "OutlierInjection.seed")
        self.J_mode, self.rho, self.alpha_max = c.J_mode, c.rho, c.alpha_max
        self.events: list[InjectionEvent] = []

    def check_columns(self, n: int) -> None:
        """Raise if ``s`` features cannot be drawn from ``n`` columns."""
        if self.s > n:
            raise ValueError(f"OutlierInjection: s must be <= the number of columns n = {n}, "
                             f"got {self.s}")

    def is_event(self, step: int) -> bool:
        """Whether ``step`` carries an event (``t % K_out == 0`` and ``t >= t_start``)."""
        return step >= self.t_start and step % self.K_out == 0

    def event_steps(self, n_steps: int) -> list[int]:
        """All event steps in ``1..n_steps``."""
        first = -(-self.t_start // self.K_out) * self.K_out
        return list(range(first, n_steps + 1, self.K_out))

    def draw(self, step: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The event's sorted feature indices J ``(s,)`` and, in additive mode, the
        Gaussian directions ``(m, s)``; a pure function of ``(seed, step)``."""
        self.check_columns(n)
        rng = step_rng(self.seed, step, "injection")
        fixed = step_rng(self.seed, 0, "injection_fixed") if self.J_mode == "fixed" else rng
        J = np.sort(fixed.choice(n, size=self.s, replace=False))
        directions = rng.standard_normal((m, self.s)) if self.mode == "additive" else None
        return J, directions

    def apply(self, X: Tensor, step: int, *, V: Tensor | None = None) -> bool:
        """Inject into ``X (m, n)`` in place if ``step`` is an event (feature basis V, the
        columns of an ``(n, n)`` orthogonal matrix; ``None`` = identity); logs the event."""
        if not self.is_event(step):
            return False
        J, directions = self.draw(step, *X.shape[-2:])
        self._inject(X, V, torch.from_numpy(J), None if directions is None
                     else torch.from_numpy(directions))
        self.events.append(InjectionEvent(step, tuple(int(j) for j in J)))
        return True

    def _inject(self, X: Tensor, V: Tensor | None, J: Tensor, directions: Tensor | None) -> None:
        VJ = _feature_columns(V, J, X)
        if directions is None:
            _scale_features(X, VJ, self.a)
        else:
            _add_bursts(X, VJ, directions.to(dtype=X.dtype, device=X.device), self.rho, self.alpha_max)

    def momentum_hook(self, V: Tensor | None = None, *, target: Tensor | None = None) -> MomentumHook:
        """A ``hook(param, M, step)`` for the Muon family's ``momentum_hook`` (SPEC 1),
        injecting into ``M`` in basis V; with ``target`` it acts on that parameter only."""
        _require_momentum_site(self.site)

        def hook(param: Tensor, M: Tensor, step: int) -> None:
            if target is None or param is target:
                self.apply(M, step, V=V)

        return hook


class OutlierInjectionBatch:
    """Injection into ``(S, m, n)`` tensors with one seed per slice (per-slice J).

    Slice ``i`` receives exactly what ``OutlierInjection(seed=seeds[i], ...)`` would apply
    to it; the event schedule is common to all slices. ``V`` is ``(S, n, n)`` or None.
    """

    def __init__(self, seeds: Sequence[int], **settings: object) -> None:
        if not seeds:
            raise ValueError("OutlierInjectionBatch: seeds must be a non-empty sequence")
        self.injections = tuple(OutlierInjection(seed=s, **settings) for s in seeds)
        self._first = self.injections[0]

    def __len__(self) -> int:
        return len(self.injections)

    @property
    def events(self) -> list[InjectionEvent]:
        """All logged events, per slice, in (slice, step) order."""
        return [InjectionEvent(e.step, e.columns, i)
                for i, inj in enumerate(self.injections) for e in inj.events]

    def check_columns(self, n: int) -> None:
        self._first.check_columns(n)

    def is_event(self, step: int) -> bool:
        return self._first.is_event(step)

    def event_steps(self, n_steps: int) -> list[int]:
        return self._first.event_steps(n_steps)

    def apply(self, X: Tensor, step: int, *, V: Tensor | None = None) -> bool:
        """Inject into each slice of ``X (S, m, n)`` in place (one vectorized update)."""
        if X.ndim != 3 or X.shape[0] != len(self):
            raise ValueError(f"OutlierInjectionBatch: X must have shape ({len(self)}, m, n), "
                             f"got {tuple(X.shape)}")
        if not self.is_event(step):
            return False
        draws = [inj.draw(step, *X.shape[-2:]) for inj in self.injections]
        J = torch.from_numpy(np.stack([j for j, _ in draws]))
        directions = (None if self._first.mode == "multiplicative"
                      else torch.from_numpy(np.stack([u for _, u in draws])))
        self._first._inject(X, V, J, directions)
        for inj, (j, _) in zip(self.injections, draws):
            inj.events.append(InjectionEvent(step, tuple(int(c) for c in j)))
        return True

    def momentum_hook(self, V: Tensor | None = None, *, target: Tensor | None = None) -> MomentumHook:
        """As :meth:`OutlierInjection.momentum_hook`, for a batched ``(S, m, n)`` momentum."""
        _require_momentum_site(self._first.site)

        def hook(param: Tensor, M: Tensor, step: int) -> None:
            if target is None or param is target:
                self.apply(M, step, V=V)

        return hook
