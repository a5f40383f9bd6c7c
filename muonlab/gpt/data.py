"""Token streams for the transformer problem (SPEC 12): a deterministic function of
``(seed, step)`` through :func:`muonlab.streams.step_rng`.

- ``markov``: sequences of a :class:`~muonlab.gpt.markov.MarkovSource` (known entropy
  rate). Training batch of step t from stream ``gpt_train`` at ``(seed, t)``; validation
  batch i from stream ``gpt_valid`` at ``(seed, i)``, i = 0..n-1, the same at every
  evaluation.
- ``file:PATH``: character level on a local UTF-8 text file; the vocabulary is its sorted
  distinct characters, the first 90% of the text trains and the last 10% validates;
  windows start at offsets drawn from the same streams. No entropy floor (NaN).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from muonlab.streams import step_rng

from .markov import MarkovSource

TRAIN_SHARE = 0.9


def is_data_spec(value: str) -> bool:
    """Whether ``value`` is ``"markov"`` or ``"file:PATH"`` naming an existing file."""
    return value == "markov" or (value.startswith("file:") and Path(value[5:]).is_file())


class TokenStream:
    """Training and validation batches of ``batch_size`` windows of ``context + 1`` tokens
    (inputs are the first ``context``, targets the last ``context``).

    ``source`` is a MarkovSource or None (then ``text`` holds the encoded file);
    ``vocab`` the vocabulary size; ``entropy_floor`` the source's entropy rate (nats) or
    NaN for text.
    """

    def __init__(self, *, seed: int, context: int, batch_size: int, source: MarkovSource | None = None,
                 text: np.ndarray | None = None, vocab: int | None = None) -> None:
        self.seed, self.context, self.batch_size = seed, context, batch_size
        self.source = source
        if source is not None:
            self.vocab = source.vocab
            self.entropy_floor = source.entropy_rate
        else:
            assert text is not None and vocab is not None
            split = int(len(text) * TRAIN_SHARE)
            self.train_text, self.valid_text = text[:split], text[split:]
            for name, part in (("training", self.train_text), ("validation", self.valid_text)):
                if len(part) < context + 2:
                    raise ValueError(f"data: the {name} part of the file has {len(part)} characters, "
                                     f"fewer than context + 2 = {context + 2}")
            self.vocab = vocab
            self.entropy_floor = math.nan

    @classmethod
    def from_spec(cls, data: str, *, seed: int, context: int, batch_size: int, vocab: int, order: int,
                  support: int, zipf: float, source_seed: int) -> "TokenStream":
        """The stream of a ``data`` setting (``markov`` or ``file:PATH``)."""
        if data == "markov":
            source = MarkovSource(vocab, order, support=support, zipf=zipf, seed=source_seed)
            return cls(seed=seed, context=context, batch_size=batch_size, source=source)
        text = Path(data[5:]).read_text(encoding="utf-8")
        chars = sorted(set(text))
        index = {c: i for i, c in enumerate(chars)}
        encoded = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
        return cls(seed=seed, context=context, batch_size=batch_size, text=encoded, vocab=len(chars))

    def _windows(self, rng: np.random.Generator, text_part: np.ndarray | None) -> np.ndarray:
        n = self.context + 1
        if self.source is not None:
            return self.source.sample(rng, self.batch_size, n)
        starts = rng.integers(0, len(text_part) - n + 1, size=self.batch_size)
        return text_part[starts[:, None] + np.arange(n)]

    def train_batch(self, step: int) -> np.ndarray:
        """``(batch_size, context + 1)`` tokens of training step ``step``."""
        return self._windows(step_rng(self.seed, step, "gpt_train"), None if self.source else self.train_text)

    def valid_batch(self, index: int) -> np.ndarray:
        """Validation batch ``index`` (fixed across evaluations and optimizers)."""
        return self._windows(step_rng(self.seed, index, "gpt_valid"), None if self.source else self.valid_text)


def split_xy(tokens: np.ndarray, device: torch.device) -> tuple[Tensor, Tensor]:
    """Inputs (all but the last token) and next-token targets (all but the first)."""
    t = torch.from_numpy(tokens).to(device)
    return t[..., :-1], t[..., 1:]
