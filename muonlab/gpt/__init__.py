"""The transformer problem (SPEC 12): a synthetic language with a known entropy rate or
a local text file, and a small decoder-only GPT. Knows nothing of optimizers."""

from .data import TokenStream, is_data_spec, split_xy
from .markov import MarkovSource
from .model import GPT, LAYER_TYPES, layer_type, next_token_loss
from .problem import GPTSettings

__all__ = [
    "GPT", "LAYER_TYPES", "GPTSettings", "MarkovSource", "TokenStream", "is_data_spec", "layer_type", "next_token_loss", "split_xy",
]
