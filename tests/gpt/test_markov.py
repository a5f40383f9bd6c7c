"""The synthetic language (SPEC 12): exact entropy rate and the true model's cross-entropy."""

from __future__ import annotations

import numpy as np
import pytest

from muonlab.gpt import MarkovSource, TokenStream


def dense_entropy_rate(source: MarkovSource) -> float:
    """Independent reference: the stationary vector of the dense transition matrix by
    ``numpy.linalg.eig`` (eigenvalue 1), and the row entropies of that dense matrix,
    mapped back from context transitions to next-token probabilities."""
    P = source.transition_matrix().toarray()
    values, vectors = np.linalg.eig(P.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    pi = pi / pi.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        row_entropy = -np.nansum(np.where(P > 0, P * np.log(P), 0.0), axis=1)
    return float(pi @ row_entropy)


@pytest.mark.parametrize("vocab, order, support, zipf", [(6, 2, 3, 1.0), (16, 2, 4, 1.5), (64, 1, 8, 1.0)])
def test_entropy_rate_matches_dense_stationary_distribution(vocab: int, order: int, support: int, zipf: float) -> None:
    source = MarkovSource(vocab, order, support=support, zipf=zipf, seed=3)
    # Power iteration stops at an L1 change of 1e-13; the entropy rate error is at most
    # that times max row entropy (log support); eig's own error on <= 256 states is ~1e-13.
    assert source.entropy_rate == pytest.approx(dense_entropy_rate(source), abs=1e-11)
    # The rate depends on pi (rows differ), so a wrong pi would show: the uniform
    # average of the row entropies is a different number.
    P = source.transition_matrix().toarray()
    uniform = float(np.mean(-np.sum(np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0), axis=1)))
    assert abs(uniform - source.entropy_rate) > 1e-6  # far above the 1e-11 tolerance


def test_true_model_cross_entropy_is_the_entropy_rate_within_three_standard_errors() -> None:
    source = MarkovSource(64, 2, support=8, zipf=1.0, seed=0)
    # 64 independent stationary chains of 3000 tokens: the per-chain mean NLLs are i.i.d.
    # (a batch-means estimate with independent batches), so their standard error is exact.
    tokens = source.sample(np.random.default_rng(12345), 64, 3000)
    nll = -source.log_prob_next(tokens)
    assert np.isfinite(nll).all()  # every sampled transition is possible under the model
    chain_means = nll.mean(axis=1)
    stderr = chain_means.std(ddof=1) / np.sqrt(len(chain_means))
    assert abs(chain_means.mean() - source.entropy_rate) < 3 * stderr
    assert stderr < 0.01  # the check has power: 3 SE is under 2% of the rate


def test_streams_are_functions_of_seed_and_step(tmp_path) -> None:
    kw = dict(context=8, batch_size=4, vocab=16, order=1, support=4, zipf=1.0, source_seed=0)
    a = TokenStream.from_spec("markov", seed=1, **kw)
    b = TokenStream.from_spec("markov", seed=1, **kw)
    assert np.array_equal(a.train_batch(7), b.train_batch(7))
    assert not np.array_equal(a.train_batch(7), a.train_batch(8))
    assert np.array_equal(a.valid_batch(0), b.valid_batch(0))
    assert not np.array_equal(a.valid_batch(0), TokenStream.from_spec("markov", seed=2, **kw).valid_batch(0))

    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    chars = TokenStream.from_spec(f"file:{text}", seed=0, **kw)
    assert chars.vocab == len(set(text.read_text()))
    assert np.isnan(chars.entropy_floor)
    batch = chars.train_batch(3)
    assert batch.shape == (4, 9) and np.array_equal(batch, TokenStream.from_spec(f"file:{text}", seed=0, **kw).train_batch(3))
    # windows are contiguous stretches of the training text
    encoded = "".join(sorted(set(text.read_text())))
    decoded = ["".join(encoded[i] for i in row) for row in batch]
    assert all(w in text.read_text()[: int(0.9 * len(text.read_text()))] for w in decoded)
