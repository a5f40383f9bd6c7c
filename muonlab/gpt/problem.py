"""The transformer problem's settings (a study's ``[problem]`` keys; SPEC 12,
docs/gpt.md) and the token stream and model they build."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from muonlab.schema import Schema, at_least, one_of, rule

from .data import TokenStream, is_data_spec
from .markov import MAX_CONTEXTS
from .model import GPT

# The layer types (muonlab.gpt.model.LAYER_TYPES) each `inject_layers` value targets.
INJECT_LAYERS = {
    "all": ("q", "k", "v", "o", "up", "down"), "attention": ("q", "k", "v", "o"), "mlp": ("up", "down"), "none": (),
}


@dataclass(frozen=True)
class GPTSettings(Schema):
    """Token source, model and evaluation settings of the GPT problem."""

    owner: ClassVar[str] = "GPT"
    data: str = rule("markov", '"markov" or "file:PATH" of an existing text file', is_data_spec, "token source")
    vocab: int = at_least(2, 64, "markov: vocabulary size")
    order: int = at_least(1, 1, "markov: context length k of the order-k chain")
    support: int = at_least(1, 8, "markov: successors per context (sparsity; <= vocab)")
    zipf: float = at_least(0.0, 1.0, "markov: Zipf exponent of the transition rows")
    source_seed: int = at_least(0, 0, "markov: seed of the language (the same for every run seed)")
    d_model: int = at_least(1, 64, "width (a multiple of n_heads)")
    n_layers: int = at_least(1, 2, "transformer blocks")
    n_heads: int = at_least(1, 4, "attention heads")
    context: int = at_least(2, 64, "sequence length")
    batch_size: int = at_least(1, 16, "sequences per step")
    eval_every: int = at_least(1, 50, "validation loss and Gram dominance every eval_every steps")
    eval_batches: int = at_least(1, 4, "fixed validation batches")
    threshold: float = at_least(0.0, 2.5, "training-loss threshold for steps_to_threshold (nats)", strict=True)
    inject_layers: str = one_of(
        INJECT_LAYERS, "all", "[injection] targets: Q,K,V,O and/or MLP up/down; none = the burst-off control at the same event steps"
    )

    @classmethod
    def joint(cls, values: Mapping[str, Any]) -> tuple[str, str] | None:
        """The rules :class:`GPT` and :class:`MarkovSource` would raise on otherwise."""
        if values["d_model"] % values["n_heads"]:
            return "d_model", f"must be a multiple of n_heads = {values['n_heads']}, got {values['d_model']}"
        if values["data"] == "markov":
            if values["support"] > values["vocab"]:
                return "support", f"must be <= vocab = {values['vocab']}, got {values['support']}"
            if values["vocab"] ** values["order"] > MAX_CONTEXTS:
                return "order", f"vocab**order must be <= {MAX_CONTEXTS} contexts, got {values['vocab']}**{values['order']}"
        return None

    def stream(self, seed: int) -> TokenStream:
        """The token stream of run seed ``seed``."""
        return TokenStream.from_spec(
            self.data, seed=seed, context=self.context, batch_size=self.batch_size, vocab=self.vocab, order=self.order,
            support=self.support, zipf=self.zipf, source_seed=self.source_seed,
        )

    def model(self, vocab: int, seed: int, device: torch.device, dtype: torch.dtype) -> GPT:
        """The seeded model over ``vocab`` tokens (the stream's)."""
        return GPT(vocab, d_model=self.d_model, n_layers=self.n_layers, n_heads=self.n_heads, context=self.context,
                   seed=seed, dtype=dtype).to(device)
