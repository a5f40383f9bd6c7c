"""Collocation and evaluation points: ROI mixture, boundary, non-ROI, grids, common random numbers."""

import math

import numpy as np
import pytest
import torch

from muonlab.pinn import ROI_PATCHES, Helmholtz, step_rng
from muonlab.pinn.sampling import boundary_points, cell_centre_grid, in_patch, interior_points, nonroi_points


def _area(patch):
    x0, x1, y0, y1 = patch
    return (x1 - x0) * (y1 - y0)


def test_roi_event_batches_hold_about_95_percent_in_the_patch():
    problem = Helmholtz()
    total_in, total_n = 0, 0
    for step in problem.event_steps[:30]:
        batch = problem.batch(0, step)
        patch = ROI_PATCHES[batch.roi]
        n_in = int(in_patch(batch.interior.double().numpy(), patch).sum())
        # Uniform(Omega) draws land in the patch too: p = alpha + (1 - alpha) |patch|.
        p = 0.95 + 0.05 * _area(patch)
        assert abs(n_in - 1024 * p) <= 5 * math.sqrt(1024 * p * (1 - p)) + 1
        total_in, total_n = total_in + n_in - 1024 * p, total_n + 1024 * p * (1 - p)
    assert abs(total_in) <= 4 * math.sqrt(total_n)


def test_mixture_weight_alpha_is_honoured():
    rng = np.random.default_rng(0)
    patch = ROI_PATCHES[8]
    for alpha in (0.0, 0.3, 1.0):
        points = interior_points(rng, 20000, patch=patch, alpha=alpha)
        p = alpha + (1 - alpha) * _area(patch)
        assert abs(in_patch(points, patch).mean() - p) <= 5 * math.sqrt(p * (1 - p) / 20000) + 1e-12
        assert points.min() >= 0 and points.max() <= 1


def test_off_event_batches_are_uniform_on_the_square():
    problem = Helmholtz()
    points = torch.cat([problem.batch(0, step).interior for step in range(1, 21)]).double().numpy()
    assert problem.batch(0, 1).roi is None
    assert points.min() >= 0 and points.max() < 1
    # Mean and variance of Uniform[0,1]: 1/2 and 1/12, per coordinate.
    n = len(points)
    assert np.all(np.abs(points.mean(0) - 0.5) <= 5 * math.sqrt(1 / 12 / n))
    assert np.all(np.abs(points.var(0) - 1 / 12) <= 5 * math.sqrt(1 / 180 / n))


def test_boundary_points_lie_on_the_boundary_uniformly_over_edges():
    points = boundary_points(np.random.default_rng(1), 8000)
    x, y = points[:, 0], points[:, 1]
    distance = np.minimum.reduce([x, 1 - x, y, 1 - y])
    assert np.all(distance == 0) and points.min() >= 0 and points.max() <= 1
    edges = np.stack([y == 0, y == 1, x == 0, x == 1]).sum(1)
    assert np.all(np.abs(edges - 2000) <= 5 * math.sqrt(8000 * 0.25 * 0.75))
    along = np.where((y == 0) | (y == 1), x, y)
    assert abs(along.mean() - 0.5) <= 5 * math.sqrt(1 / 12 / 8000)
    batch = Helmholtz().batch(3, 17).boundary.double().numpy()
    assert batch.shape == (256, 2)
    assert np.all(np.minimum.reduce([batch[:, 0], 1 - batch[:, 0], batch[:, 1], 1 - batch[:, 1]]) == 0)


@pytest.mark.parametrize("patch", [ROI_PATCHES[0], ROI_PATCHES[8], (0.2, 0.8, 0.1, 0.9)])
def test_nonroi_points_avoid_the_patch(patch):
    # The large last patch forces several rejection rounds.
    points = nonroi_points(np.random.default_rng(2), 4096, patch=patch)
    assert points.shape == (4096, 2)
    assert not in_patch(points, patch).any()
    assert points.min() >= 0 and points.max() < 1


def test_cell_centre_grids():
    expected = np.array([[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]])
    np.testing.assert_array_equal(cell_centre_grid(2), expected)
    grid = cell_centre_grid(128)
    assert grid.shape == (128 * 128, 2)
    assert grid.min() == 1 / 256 and grid.max() == 1 - 1 / 256
    patch = ROI_PATCHES[9]
    roi = cell_centre_grid(64, patch)
    assert roi.shape == (4096, 2) and in_patch(roi, patch).all()
    np.testing.assert_allclose(roi.mean(0), [(patch[0] + patch[1]) / 2, (patch[2] + patch[3]) / 2], rtol=1e-12)


def test_collocation_points_depend_only_on_seed_step_stream():
    base = Helmholtz()
    variants = [Helmholtz(lambda_b=1.0, width=8, depth=1, laplacian="autograd"), Helmholtz(dtype=torch.float64, k=3)]
    steps = [1020, 1, 1000, 2000]
    reference = {t: base.batch(4, t) for t in steps}
    for problem in variants:
        for t in reversed(steps):  # another order: no hidden state
            batch = problem.batch(4, t)
            assert batch.roi == reference[t].roi
            assert torch.equal(batch.interior.float(), reference[t].interior)
            assert torch.equal(batch.boundary.float(), reference[t].boundary)
    # Interior points do not depend on how many boundary points are drawn, and vice versa.
    assert torch.equal(Helmholtz(N_b=7).batch(4, 1020).interior, reference[1020].interior)
    assert torch.equal(Helmholtz(N_r=5).batch(4, 1020).boundary, reference[1020].boundary)
    # ...and they change with the seed and the step.
    assert not torch.equal(base.batch(5, 1020).interior, reference[1020].interior)
    assert not torch.equal(base.batch(4, 1040).interior, reference[1020].interior)
    expected = torch.from_numpy(step_rng(4, 1, "interior").random((1024, 2))).float()
    assert torch.equal(reference[1].interior, expected)
