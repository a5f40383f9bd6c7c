"""Error metrics of the PINN protocol (SPEC 3, T eq. 42)."""

from __future__ import annotations

from torch import Tensor


def rel_l2(u: Tensor, u_ref: Tensor) -> Tensor:
    """Relative L2 error ``||u - u_ref||_2 / ||u_ref||_2`` over the last axis (eq. T-42)."""
    return (u - u_ref).norm(dim=-1) / u_ref.norm(dim=-1)


def rms(v: Tensor) -> Tensor:
    """Root mean square over the last axis."""
    return v.square().mean(dim=-1).sqrt()
