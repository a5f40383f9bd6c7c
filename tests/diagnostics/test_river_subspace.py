"""River valley (SPEC 2.3, issue 4): the top-q Hessian subspace found by Lanczos is the
landscape's wall subspace, and dominant ratios separate river from wall vectors."""

from __future__ import annotations

import pytest
import torch

from muonlab.diagnostics import dom_bulk_ratio, hessian_operator, lanczos
from muonlab.toyproblems import RiverValley

MU, A, K = 0.1, 1.0, 0.5


def sin_largest_angle(X: torch.Tensor, Y: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(X - Y @ (Y.T @ X), ord=2))


def landscape(kind: str, rotated: bool) -> RiverValley:
    return RiverValley(3, 4, kind=kind, rotated=rotated, seed=5, mu=MU, a=A, k=K, kappa_wall=10.0, dtype=torch.float64)


def along_river(rv: RiverValley, shift: float) -> torch.Tensor:
    """A point on the valley floor, y_j = h_j(x) = a sin(k x_{j mod p}) (0 when straight),
    with the river coordinates x shifted from x*; W = mat_r(Q w) (SPEC 2.3)."""
    x = rv.x_star + shift * torch.linspace(-1.0, 1.0, rv.p, dtype=torch.float64)
    coupled = x[torch.arange(rv.q) % rv.p]
    y = A * torch.sin(K * coupled) if rv.kind == "curved" else torch.zeros(rv.q, dtype=torch.float64)
    w = torch.cat([x, y])
    return (w if rv.Q is None else rv.Q @ w).reshape(rv.m, rv.n)


def top_q(rv: RiverValley, W: torch.Tensor) -> torch.Tensor:
    op = hessian_operator(lambda params: rv.loss(params[0]), [W])
    result = lanczos(op, rv.q, tol=1e-10, seed=0)
    assert bool(result.converged.all())
    return result.eigenvectors


@pytest.mark.parametrize("rotated", [False, True])
@pytest.mark.parametrize("shift", [0.0, 2.0])
def test_straight_valley_top_q_is_the_wall_subspace(rotated: bool, shift: float) -> None:
    rv = landscape("straight", rotated)
    W = along_river(rv, shift)
    assert float(rv.wall_energy(W)) < 1e-20  # on the valley floor
    Q = top_q(rv, W)
    assert sin_largest_angle(Q, rv.wall_basis(W)) < 1e-8
    for j in range(rv.p):
        r_dom, r_bulk = dom_bulk_ratio(rv.river_basis(W)[:, j], Q)
        assert r_dom < 1e-8 and r_bulk == pytest.approx(1.0, abs=1e-12)
    for j in range(rv.q):
        r_dom, r_bulk = dom_bulk_ratio(rv.wall_basis(W)[:, j], Q)
        assert r_dom == pytest.approx(1.0, abs=1e-12) and r_bulk < 1e-8


@pytest.mark.parametrize("shift", [0.0, 2.0])
def test_curved_valley_top_q_is_tilted_from_walls_by_at_most_mu_slope_over_lambda(shift: float) -> None:
    # On the floor r = 0, so H = J^T diag(lambda) J + mu P_river: the wall normals are
    # tilted by the river term, O(mu |a k| / lambda_min) (Davis-Kahan), lambda_min = 10.
    rv = landscape("curved", True)
    W = along_river(rv, shift)
    Q = top_q(rv, W)
    bound = 2.0 * MU * abs(A * K) / 10.0
    angle = sin_largest_angle(Q, rv.wall_basis(W))
    assert angle < bound
    assert angle > 1e-6  # genuinely tilted: the check is not vacuous
    river_dom = max(dom_bulk_ratio(rv.river_basis(W)[:, j], Q)[0] for j in range(rv.p))
    wall_dom = min(dom_bulk_ratio(rv.wall_basis(W)[:, j], Q)[0] for j in range(rv.q))
    assert river_dom < bound and wall_dom > 1.0 - bound**2
