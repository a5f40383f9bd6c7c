"""A seeded synthetic language with an exactly known entropy rate (SPEC 12).

An order-``k`` Markov source over ``vocab`` tokens: every context (the last ``k``
tokens) has ``support`` possible successors, a seeded random subset of the vocabulary,
with Zipf-like probabilities ``p_r ∝ r^(-zipf e_c)`` over a seeded random ranking
(``r = 1..support``), ``e_c ~ Exp(1)`` a seeded per-context factor (mean exponent ``zipf``). The chain on contexts moves from ``(x_1..x_k)`` to
``(x_2..x_k, y)``; its stationary distribution ``pi`` (power iteration on the single
closed class, float64) gives the entropy rate

    H = sum_c pi(c) H(P(. | c)),   H(p) = -sum_y p_y log p_y   (nats),

the lowest expected next-token cross-entropy any model can reach on this source: the
"entropy floor" of the transformer studies. Sequences start from a context drawn from
``pi``, so every position is stationary.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

MAX_CONTEXTS = 1 << 20
MAX_ITERATIONS = 100_000
TOLERANCE = 1e-13  # L1 change per iteration; bounds the entropy-rate error by 1e-13 * log(support)


class MarkovSource:
    """The source; ``seed`` fixes the language (transition rows), not the samples.

    Args:
        vocab: tokens (>= 2). order: context length k (>= 1), ``vocab**order <= 2**20``.
        support: successors per context (1..vocab). zipf: exponent (>= 0; 0 = uniform).
        seed: the language seed.
    """

    def __init__(self, vocab: int = 64, order: int = 2, *, support: int = 8, zipf: float = 1.0, seed: int = 0) -> None:
        if vocab < 2 or order < 1 or not 1 <= support <= vocab or zipf < 0:
            raise ValueError(f"MarkovSource: need vocab >= 2, order >= 1, 1 <= support <= vocab, zipf >= 0; "
                             f"got vocab={vocab}, order={order}, support={support}, zipf={zipf}")
        if vocab**order > MAX_CONTEXTS:
            raise ValueError(f"MarkovSource: vocab**order must be <= {MAX_CONTEXTS}, got {vocab}**{order}")
        self.vocab, self.order, self.support, self.zipf, self.seed = vocab, order, support, zipf, seed
        self.n_contexts = vocab**order
        rng = np.random.default_rng(np.random.SeedSequence([seed, vocab, order, support]))
        # successors[c] in rank order (rank 1 = most likely); argsort of uniforms = a
        # random subset in random order, one row per context.
        self.successors = np.argsort(rng.random((self.n_contexts, vocab)), axis=1)[:, :support]
        # Zipf-like rows with a per-context exponent zipf * e_c, e_c ~ Exp(1): the row
        # entropies differ, so the entropy rate depends on pi.
        exponents = zipf * rng.exponential(size=(self.n_contexts, 1))
        weights = np.arange(1, support + 1, dtype=np.float64) ** (-exponents)
        self.probs = weights / weights.sum(axis=1, keepdims=True)
        self._cum = np.cumsum(self.probs, axis=1)
        self._cum[:, -1] = 1.0
        self.stationary = self._stationary()
        row_entropy = -(self.probs * np.log(self.probs)).sum(axis=1)
        self.entropy_rate = float(self.stationary @ row_entropy)

    def next_context(self, context: np.ndarray, token: np.ndarray) -> np.ndarray:
        """Context after emitting ``token``: drop the oldest token, append the new one."""
        return (context * self.vocab + token) % self.n_contexts

    def transition_matrix(self) -> sp.csr_matrix:
        """The sparse ``(C, C)`` context-to-context transition matrix (rows sum to 1)."""
        rows = np.repeat(np.arange(self.n_contexts), self.support)
        cols = self.next_context(rows, self.successors.reshape(-1))
        return sp.csr_matrix((self.probs.reshape(-1), (rows, cols)), shape=(self.n_contexts,) * 2)

    def _stationary(self) -> np.ndarray:
        """``pi`` with ``pi P = pi``, ``sum pi = 1``, zero off the closed class. Raises
        when the chain has more than one closed class (no unique ``pi``)."""
        P = self.transition_matrix()
        _, labels = connected_components(P, directed=True, connection="strong")
        # A strongly connected component is closed when no edge leaves it.
        coo = P.tocoo()
        leaves = np.zeros(labels.max() + 1, dtype=bool)
        leaves[labels[coo.row[labels[coo.row] != labels[coo.col]]]] = True
        closed = np.flatnonzero(~leaves)
        if len(closed) != 1:
            raise ValueError(f"MarkovSource: the chain has {len(closed)} closed classes (no unique stationary "
                             f"distribution) for seed={self.seed}; change the seed or raise support")
        # Power iteration of the lazy chain (P + I)/2 (same pi, aperiodic) from the
        # uniform distribution on the closed class; the walk mixes in tens of steps.
        members = labels == closed[0]
        pi = members / members.sum()
        PT = P.T.tocsr()
        for _ in range(MAX_ITERATIONS):
            new = 0.5 * (pi + PT @ pi)
            new /= new.sum()
            if np.abs(new - pi).sum() < TOLERANCE:
                return new
            pi = new
        raise ValueError(f"MarkovSource: the stationary distribution did not converge in {MAX_ITERATIONS} iterations")

    def sample(self, rng: np.random.Generator, batch: int, length: int) -> np.ndarray:
        """``(batch, length)`` int64 tokens, each row a stationary stretch of the chain:
        the first ``order`` tokens are a context drawn from ``pi``."""
        context = rng.choice(self.n_contexts, size=batch, p=self.stationary)
        out = np.empty((batch, max(length, self.order)), dtype=np.int64)
        for i in range(self.order):  # the context's digits in base vocab, oldest first
            out[:, i] = context // self.vocab ** (self.order - 1 - i) % self.vocab
        u = rng.random((batch, length))
        for t in range(self.order, length):
            rank = (u[:, t, None] > self._cum[context]).sum(axis=1)
            token = self.successors[context, rank]
            out[:, t] = token
            context = self.next_context(context, token)
        return out[:, :length]

    def log_prob_next(self, tokens: np.ndarray) -> np.ndarray:
        """``log P(x_t | x_{t-k..t-1})`` for every position ``t >= order`` of ``(B, L)``
        ``tokens``: ``(B, L - order)`` (``-inf`` where a token is impossible)."""
        B, L = tokens.shape
        context = np.zeros(B, dtype=np.int64)
        for i in range(self.order):
            context = context * self.vocab + tokens[:, i]
        out = np.empty((B, L - self.order))
        for t in range(self.order, L):
            match = self.successors[context] == tokens[:, t, None]
            p = (self.probs[context] * match).sum(axis=1)
            out[:, t - self.order] = np.log(p, where=p > 0, out=np.full(B, -math.inf))
            context = self.next_context(context, tokens[:, t])
        return out
