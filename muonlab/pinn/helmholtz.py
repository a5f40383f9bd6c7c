"""Helmholtz PINN with the random-ROI sampling stress protocol (SPEC 3, T Appendix F).

``Laplace(u) + kappa^2 u = f`` on Omega = [0,1]^2, ``kappa = pi k``, manufactured
solution ``u*(x, y) = sin(pi k x) sin(pi k y)``, ``f = -(pi k)^2 u*`` (since
``Laplace(u*) = -2 (pi k)^2 u*``), Dirichlet data ``u*`` on the boundary (0 for integer k).

``Helmholtz`` holds the protocol's settings and knows nothing about optimizers: it builds
the seeded network, the collocation batch of a step (a function of (seed, step) only:
common random numbers), the loss with its unweighted terms, and the evaluation metrics.
Loss and metrics take the network's parameter list explicitly (``network.MLP`` layout).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from torch import Tensor

from muonlab.pinn.laplacian import LAPLACIANS, mlp_laplacian
from muonlab.pinn.metrics import rel_l2, rms
from muonlab.pinn.network import ACTIVATIONS, MLP, mlp_forward
from muonlab.pinn.roi import ROI_PATCHES, is_roi_event, roi_event_steps, roi_patch_for_step
from muonlab.pinn.sampling import boundary_points, cell_centre_grid, interior_points, nonroi_points
from muonlab.schema import Schema, at_least, flag, int_at_least, one_of, rule
from muonlab.streams import step_rng


@dataclass(frozen=True)
class HelmholtzSettings(Schema):
    """The protocol's settings (a study's ``[problem]`` keys), defaults SPEC 3's (T
    Appendix F). ``roi`` is read by :meth:`Helmholtz.from_settings`."""

    owner: ClassVar[str] = "Helmholtz"
    k: float = at_least(0.0, 2.0, "wavenumber factor, kappa = pi k", strict=True)
    lambda_b: float = at_least(0.0, 100.0, "boundary-loss weight")
    N_r: int = at_least(1, 1024, "interior points per step")
    N_b: int = at_least(1, 256, "boundary points per step")
    roi: bool = flag(True, "ROI events on (false: uniform sampling throughout, same t0 for the stationary window)")
    t0: int = at_least(1, 1000, "first ROI event step; steps < t0 are the stationary window")
    K_out: int = at_least(1, 20, "an ROI event every K_out steps")
    alpha: float = rule(0.95, "in [0, 1]", lambda v: 0.0 <= v <= 1.0, "ROI share of the interior mixture (eq. T-43)")
    eval_every: int = at_least(1, 200, "global rel-L2 every eval_every steps")
    width: int = at_least(1, 64, "hidden width")
    depth: int = at_least(1, 3, "hidden layers")
    activation: str = one_of(ACTIVATIONS, "tanh", "activation")
    laplacian: str = one_of(LAPLACIANS, "forward", "exact Laplacian implementation")
    eval_grid: int = at_least(1, 128, "global n x n evaluation grid")
    roi_grid: int = at_least(1, 64, "n x n grid inside the ROI")
    N_nonroi: int = at_least(1, 4096, "non-ROI evaluation points")


class CollocationBatch(NamedTuple):
    """The training points of one step: ``interior (N_r, 2)``, ``boundary (N_b, 2)``, and
    ``roi``, the index into ``ROI_PATCHES`` at ROI events (``None`` otherwise)."""

    interior: Tensor
    boundary: Tensor
    roi: int | None


class LossTerms(NamedTuple):
    """``loss = residual + lambda_b * boundary`` (eq. T-40), with the two terms unweighted:
    ``residual = mean(r^2 / 2)`` over interior points (r of eq. T-41) and
    ``boundary = mean((u - u*)^2 / 2)`` over boundary points."""

    loss: Tensor
    residual: Tensor
    boundary: Tensor


class Helmholtz:
    """The Helmholtz ROI protocol; defaults are SPEC 3's (T Appendix F).

    Args (keyword-only after ``k``): ``k`` wavenumber factor (kappa = pi k); ``lambda_b``
    boundary weight; ``N_r`` / ``N_b`` interior / boundary points per step; ``t0`` first
    ROI event step, ``K_out`` event period, ``alpha`` ROI mixture weight (eq. T-43);
    ``eval_every`` global evaluation period; ``steps`` run length; ``width`` / ``depth`` /
    ``activation`` the MLP; ``laplacian`` one of ``LAPLACIANS``; ``eval_grid`` global
    ``n x n`` evaluation grid, ``roi_grid`` ``n x n`` grid inside an ROI, ``N_nonroi``
    evaluation points outside the ROI; ``dtype``, ``device``.
    """

    def __init__(
        self,
        k: float = HelmholtzSettings.k,
        *,
        lambda_b: float = HelmholtzSettings.lambda_b,
        N_r: int = HelmholtzSettings.N_r,
        N_b: int = HelmholtzSettings.N_b,
        t0: int = HelmholtzSettings.t0,
        K_out: int = HelmholtzSettings.K_out,
        alpha: float = HelmholtzSettings.alpha,
        eval_every: int = HelmholtzSettings.eval_every,
        steps: int = 4000,
        width: int = HelmholtzSettings.width,
        depth: int = HelmholtzSettings.depth,
        activation: str = HelmholtzSettings.activation,
        laplacian: str = HelmholtzSettings.laplacian,
        eval_grid: int = HelmholtzSettings.eval_grid,
        roi_grid: int = HelmholtzSettings.roi_grid,
        N_nonroi: int = HelmholtzSettings.N_nonroi,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        s = HelmholtzSettings(
            k=k, lambda_b=lambda_b, N_r=N_r, N_b=N_b, t0=t0, K_out=K_out, alpha=alpha, eval_every=eval_every,
            width=width, depth=depth, activation=activation, laplacian=laplacian, eval_grid=eval_grid,
            roi_grid=roi_grid, N_nonroi=N_nonroi,
        )
        steps = int_at_least("steps", 1, None).coerce(steps, "Helmholtz.steps")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"Helmholtz: dtype must be torch.float32 or torch.float64, got {dtype!r}")

        self.k, self.kappa = s.k, math.pi * s.k
        self.lambda_b, self.alpha = s.lambda_b, s.alpha
        self.N_r, self.N_b, self.N_nonroi = s.N_r, s.N_b, s.N_nonroi
        self.t0, self.K_out, self.eval_every, self.steps = s.t0, s.K_out, s.eval_every, steps
        self.width, self.depth, self.activation, self.laplacian = s.width, s.depth, s.activation, s.laplacian
        self.dtype, self.device = dtype, torch.device(device)

        self.eval_points = self._tensor(cell_centre_grid(eval_grid))
        self.eval_u_star = self.u_star(self.eval_points)
        # Denominator of the ROI-local normalized RMSE: RMS(u*) over Omega, on the grid.
        self.u_star_rms = rms(self.eval_u_star)
        self.roi_points = torch.stack([self._tensor(cell_centre_grid(roi_grid, p)) for p in ROI_PATCHES])
        self.roi_u_star = self.u_star(self.roi_points)

    @classmethod
    def from_settings(cls, settings: HelmholtzSettings, *, steps: int, dtype: torch.dtype = torch.float32,
                      device: torch.device | str = "cpu") -> "Helmholtz":
        """The protocol of ``settings`` over ``steps`` steps; with ``roi = false`` the first
        ROI event lies past the run's end, so every step samples Uniform(Omega) with the
        same streams."""
        kwargs = {**settings.kwargs(), "t0": settings.t0 if settings.roi else steps + 1}
        del kwargs["roi"]
        return cls(**kwargs, steps=steps, dtype=dtype, device=device)

    def _tensor(self, points: np.ndarray) -> Tensor:
        return torch.as_tensor(points, dtype=self.dtype).to(self.device)

    # -- the PDE --------------------------------------------------------------------------

    def u_star(self, x: Tensor) -> Tensor:
        """Manufactured solution ``sin(pi k x) sin(pi k y)`` at points ``x (..., 2)``."""
        return torch.sin(self.kappa * x[..., 0]) * torch.sin(self.kappa * x[..., 1])

    def forcing(self, x: Tensor) -> Tensor:
        """Source ``f = -(pi k)^2 u*`` so that ``u*`` solves the PDE."""
        return -(self.kappa**2) * self.u_star(x)

    def residual(self, x: Tensor, u: Tensor, lap_u: Tensor) -> Tensor:
        """PDE residual ``r = Laplace(u) + kappa^2 u - f`` (eq. T-41)."""
        return lap_u + self.kappa**2 * u - self.forcing(x)

    # -- the protocol ---------------------------------------------------------------------

    def build_network(self, seed: int) -> MLP:
        """The seeded ``MLP`` (Xavier-normal weights, zero biases) in this dtype and device."""
        return MLP(width=self.width, depth=self.depth, activation=self.activation, seed=seed,
                   dtype=self.dtype, device=self.device)

    @property
    def event_steps(self) -> list[int]:
        """ROI event steps (150 of them, 1000..3980, with the defaults)."""
        return roi_event_steps(steps=self.steps, t0=self.t0, K_out=self.K_out)

    def is_event(self, step: int) -> bool:
        """Whether ``step`` is an ROI event of this protocol."""
        return is_roi_event(step, t0=self.t0, K_out=self.K_out, steps=self.steps)

    def is_eval_step(self, step: int) -> bool:
        """Whether the global rel-L2 is evaluated after ``step`` (every ``eval_every``)."""
        return step % self.eval_every == 0

    def roi_patch(self, seed: int, step: int) -> int | None:
        """Index into ``ROI_PATCHES`` of the ROI at ``step``; ``None`` off events."""
        return roi_patch_for_step(seed, step) if self.is_event(step) else None

    def batch(self, seed: int, step: int) -> CollocationBatch:
        """Collocation points of ``step``: a function of (seed, step) and the protocol only."""
        roi = self.roi_patch(seed, step)
        patch = None if roi is None else ROI_PATCHES[roi]
        interior = interior_points(step_rng(seed, step, "interior"), self.N_r, patch=patch, alpha=self.alpha)
        boundary = boundary_points(step_rng(seed, step, "boundary"), self.N_b)
        return CollocationBatch(self._tensor(interior), self._tensor(boundary), roi)

    def loss_terms(self, params: Sequence[Tensor], interior: Tensor, boundary: Tensor) -> LossTerms:
        """Training loss (eq. T-40/41) of the MLP ``params`` on one collocation batch."""
        u, lap_u = mlp_laplacian(params, interior, method=self.laplacian, activation=self.activation)
        residual = 0.5 * self.residual(interior, u, lap_u).square().mean()
        u_b = mlp_forward(params, boundary, activation=self.activation)
        boundary_term = 0.5 * (u_b - self.u_star(boundary)).square().mean()
        return LossTerms(residual + self.lambda_b * boundary_term, residual, boundary_term)

    # -- metrics (0-d tensors: no host sync) ----------------------------------------------

    def global_rel_l2(self, params: Sequence[Tensor]) -> Tensor:
        """rel-L2 (eq. T-42) on the fixed ``eval_grid x eval_grid`` cell-centre grid."""
        with torch.no_grad():
            u = mlp_forward(params, self.eval_points, activation=self.activation)
            return rel_l2(u, self.eval_u_star)

    def _event_patch(self, seed: int, step: int) -> int:
        roi = self.roi_patch(seed, step)
        if roi is None:
            raise ValueError(f"Helmholtz: step must be an ROI event step, got {step!r}")
        return roi

    def nonroi_eval_points(self, seed: int, step: int) -> Tensor:
        """``N_nonroi`` points uniform on Omega minus the ROI of the event ``step``
        (stream ``nonroi_eval`` of (seed, step): the same for every optimizer)."""
        patch = ROI_PATCHES[self._event_patch(seed, step)]
        return self._tensor(nonroi_points(step_rng(seed, step, "nonroi_eval"), self.N_nonroi, patch=patch))

    def roi_metrics(self, params: Sequence[Tensor], *, seed: int, step: int) -> dict[str, Tensor]:
        """ROI-local errors at the ROI event ``step`` (T Appendix F, SPEC 3).

        ``roi_rel_l2``: rel-L2 on the ``roi_grid x roi_grid`` cell-centre grid of the ROI;
        ``roi_nrmse``: ``RMS(u - u*)`` on that grid over ``RMS(u*)`` on the global grid (the
        rel-L2 is ill-conditioned on corner and edge patches, where ``u*`` is ~0);
        ``nonroi_rel_l2``: rel-L2 on the ``nonroi_eval_points`` of (seed, step).
        """
        roi = self._event_patch(seed, step)
        outside = self.nonroi_eval_points(seed, step)
        with torch.no_grad():
            u_roi = mlp_forward(params, self.roi_points[roi], activation=self.activation)
            u_out = mlp_forward(params, outside, activation=self.activation)
            return {
                "roi_rel_l2": rel_l2(u_roi, self.roi_u_star[roi]),
                "roi_nrmse": rms(u_roi - self.roi_u_star[roi]) / self.u_star_rms,
                "nonroi_rel_l2": rel_l2(u_out, self.u_star(outside)),
            }
