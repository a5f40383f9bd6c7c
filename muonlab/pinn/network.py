"""The PINN network: a plain MLP with a functional forward (SPEC 3).

Parameters are the flat list ``[W_0, b_0, W_1, b_1, ..., W_L, b_L]`` (``nn.Linear``
layout, ``W`` of shape ``(d_out, d_in)``), the order of ``MLP.parameters()``. Every
function here takes that list explicitly, so the same code runs on a module's own
parameters, under ``torch.func.functional_call`` or vmapped over stacked seeds.
With the default 2 -> 64 -> 64 -> 64 -> 1 net the 2-D parameters are the input weight,
the two hidden 64x64 weights and the output weight, so the hybrid rule (2-D parameters
other than the first and last go to the matrix optimizer) selects exactly the hidden ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class Activation(NamedTuple):
    """An activation and its first two derivatives, each as a function of the
    pre-activation ``z`` (the derivatives drive the forward Laplacian)."""

    value: Callable[[Tensor], Tensor]
    derivatives: Callable[[Tensor], tuple[Tensor, Tensor, Tensor]]


def _tanh_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    t = torch.tanh(z)
    d1 = 1.0 - t * t
    return t, d1, -2.0 * t * d1


def _sin_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sin(z)
    return s, torch.cos(z), -s


def _softplus_derivatives(z: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    s = torch.sigmoid(z)
    return F.softplus(z), s, s * (1.0 - s)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation(torch.tanh, _tanh_derivatives),
    "sin": Activation(torch.sin, _sin_derivatives),
    "softplus": Activation(F.softplus, _softplus_derivatives),
}


def check_activation(activation: str) -> Activation:
    """The ``Activation`` named ``activation``; ValueError naming the choices otherwise."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def mlp_forward(params: Sequence[Tensor], x: Tensor, *, activation: str = "tanh") -> Tensor:
    """Network output ``u(x)`` of shape ``(N,)`` for points ``x`` of shape ``(N, d_in)``."""
    act = check_activation(activation).value
    h = x
    for W, b in zip(params[0:-2:2], params[1:-2:2]):
        h = act(F.linear(h, W, b))
    # A (N,) output avoids the (N,1) - (N,) -> (N,N) broadcasting trap in the loss.
    return F.linear(h, params[-2], params[-1]).squeeze(-1)


class MLP(nn.Module):
    """``in_dim -> width (x depth hidden layers) -> out_dim=1`` MLP (SPEC 3 network).

    Weights Xavier-normal, biases zero, drawn from a local generator seeded by ``seed``
    on the CPU (the same init on every device), then moved to ``device``.
    """

    def __init__(
        self,
        *,
        in_dim: int = 2,
        width: int = 64,
        depth: int = 3,
        activation: str = "tanh",
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("width", width), ("depth", depth)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        check_activation(activation)
        self.activation = activation
        sizes = [in_dim] + [width] * depth + [1]
        generator = torch.Generator().manual_seed(seed)
        layers = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            # skip_init: nn.Linear's own init would draw from (and advance) the global RNG.
            layer = nn.utils.skip_init(nn.Linear, d_in, d_out, dtype=dtype)
            with torch.no_grad():
                nn.init.xavier_normal_(layer.weight, generator=generator)
                nn.init.zeros_(layer.bias)
            layers.append(layer)
        self.layers = nn.ModuleList(layers).to(device)

    def forward(self, x: Tensor) -> Tensor:
        """``u(x)``, shape ``(N,)``."""
        return mlp_forward(list(self.parameters()), x, activation=self.activation)
