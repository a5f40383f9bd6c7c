"""Cached 0-d constants give the same bits as the Python numbers they replace."""

import pytest
import torch

from muonlab.optim.constants import constant


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("value", [1e-8, 0.1, 1.0, 3.0 ** 0.5, 64.0 ** 0.5])
def test_ops_with_a_constant_equal_ops_with_the_number(dtype, value):
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.rand(61, generator=g, dtype=dtype) * 3, torch.tensor([0.0, float("inf"), float("nan")], dtype=dtype)])
    c = constant(value, dtype, x.device)
    assert c.dtype == dtype and c.ndim == 0 and constant(value, dtype, x.device) is c  # cached
    for ours, theirs in [(x + c, x + value), (x / c, x / value), (x > c, x > value),
                         (x.clone().div_(c).add_(c), x.clone().div_(value).add_(value)),
                         (torch.where(x > c, x, c), torch.where(x > value, x, value))]:
        assert torch.equal(ours, theirs) or torch.equal(ours.isnan(), theirs.isnan()) and torch.equal(
            ours.nan_to_num(), theirs.nan_to_num())
