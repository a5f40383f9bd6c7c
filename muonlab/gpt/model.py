"""A small decoder-only transformer (SPEC 12): token + learned position embeddings,
``n_layers`` pre-norm blocks (RMSNorm; causal self-attention with separate Q, K, V, O
projections through ``F.scaled_dot_product_attention(is_causal=True)``; MLP
``d -> 4d -> d`` with GELU), a final RMSNorm and an untied linear head.

Every ``nn.Linear`` is bias-free; its weight is ``(d_out, d_in)`` = (rows = outputs,
columns = input features), the orientation of SPEC's matrix conventions. The hidden
matrices (:meth:`GPT.matrix_names`: ``attn.q/k/v/o`` and ``mlp.up/down`` of every block)
are what a Muon-family optimizer sees; embeddings, norms and the head are not.

Init (GPT-2 style, from a local generator seeded by ``seed``, the global RNG untouched):
every weight N(0, 0.02^2), the residual output projections (``attn.o``, ``mlp.down``)
N(0, (0.02 / sqrt(2 n_layers))^2), norm gains 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

LAYER_TYPES = ("q", "k", "v", "o", "up", "down")
INIT_STD = 0.02


class Attention(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q, self.k, self.v, self.o = (nn.Linear(d_model, d_model, bias=False) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        *lead, T, d = x.shape
        heads = lambda t: t.view(*lead, T, self.n_heads, d // self.n_heads).transpose(-3, -2)  # noqa: E731
        y = F.scaled_dot_product_attention(heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), is_causal=True)
        return self.o(y.transpose(-3, -2).reshape(*lead, T, d))


class MLP(nn.Module):
    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.up = nn.Linear(d_model, 4 * d_model, bias=False)
        self.down = nn.Linear(4 * d_model, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.norm1 = nn.RMSNorm(d_model)
        self.attn = Attention(d_model, n_heads)
        self.norm2 = nn.RMSNorm(d_model)
        self.mlp = MLP(d_model)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """The model; ``forward(tokens (..., T)) -> logits (..., T, vocab)``, ``T <= context``."""

    def __init__(self, vocab: int, *, d_model: int = 64, n_layers: int = 2, n_heads: int = 4, context: int = 64,
                 seed: int = 0, dtype: torch.dtype = torch.float32) -> None:
        if d_model % n_heads:
            raise ValueError(f"GPT: d_model must be a multiple of n_heads, got d_model={d_model}, n_heads={n_heads}")
        super().__init__()
        self.context = context
        with torch.device("meta"):  # shapes only; the seeded init below fills the values
            self.tok_embed = nn.Embedding(vocab, d_model)
            self.pos_embed = nn.Parameter(torch.empty(context, d_model))
            self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
            self.norm_f = nn.RMSNorm(d_model)
            self.head = nn.Linear(d_model, vocab, bias=False)
        self.to_empty(device="cpu").to(dtype)
        self._init(seed, n_layers)

    @torch.no_grad()
    def _init(self, seed: int, n_layers: int) -> None:
        gen = torch.Generator(device="cpu").manual_seed(seed)
        residual_std = INIT_STD / math.sqrt(2 * n_layers)
        for name, p in self.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                std = residual_std if name.endswith(("attn.o.weight", "mlp.down.weight")) else INIT_STD
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * std)

    def forward(self, tokens: Tensor) -> Tensor:
        x = self.tok_embed(tokens) + self.pos_embed[: tokens.shape[-1]]
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm_f(x))

    def matrix_names(self) -> tuple[str, ...]:
        """Parameter names of the hidden 2-D matrices (Q, K, V, O, MLP up/down)."""
        return tuple(n for n, _ in self.named_parameters() if layer_type(n) is not None)


def layer_type(name: str) -> str | None:
    """``q``/``k``/``v``/``o``/``up``/``down`` for a hidden matrix's parameter name, else None."""
    for kind in LAYER_TYPES:
        if name.endswith((f"attn.{kind}.weight", f"mlp.{kind}.weight")):
            return kind
    return None


def next_token_loss(model: nn.Module, x: Tensor, y: Tensor, params: Mapping[str, Tensor] | None = None) -> Tensor:
    """Mean next-token cross-entropy (nats) of ``model`` on inputs ``x`` and targets
    ``y`` (``(B, T)``); with ``params`` through ``functional_call`` (torch.func)."""
    logits = model(x) if params is None else functional_call(model, dict(params), (x,))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
