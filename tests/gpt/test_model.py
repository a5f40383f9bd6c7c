"""The GPT model (SPEC 12): causal attention and the functional form."""

from __future__ import annotations

import torch

from muonlab.gpt import GPT, layer_type, next_token_loss


def test_perturbing_token_t_changes_no_logit_before_t() -> None:
    model = GPT(16, d_model=16, n_layers=2, n_heads=4, context=12, seed=0)
    tokens = torch.randint(0, 16, (3, 12), generator=torch.Generator().manual_seed(0))
    t = 5
    other = tokens.clone()
    other[:, t] = (tokens[:, t] + 1) % 16
    with torch.no_grad():
        before, after = model(tokens), model(other)
    # Masked scores are -inf, whose softmax weight is exactly 0: positions < t compute
    # the same numbers, so equality is exact.
    assert torch.equal(before[:, :t], after[:, :t])
    assert not torch.allclose(before[:, t:], after[:, t:])


def test_functional_call_equals_the_module() -> None:
    model = GPT(16, d_model=16, n_layers=1, n_heads=2, context=8, seed=1)
    tokens = torch.randint(0, 16, (2, 9), generator=torch.Generator().manual_seed(1))
    x, y = tokens[:, :-1], tokens[:, 1:]
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    assert torch.equal(next_token_loss(model, x, y), next_token_loss(model, x, y, params))


def test_hidden_matrices_are_rows_out_columns_in() -> None:
    model = GPT(16, d_model=8, n_layers=2, n_heads=2, context=8, seed=0)
    kinds = {n: layer_type(n) for n in model.matrix_names()}
    assert sorted(set(kinds.values())) == ["down", "k", "o", "q", "up", "v"] and len(kinds) == 12
    shapes = {k: dict(model.named_parameters())[n].shape for n, k in kinds.items()}
    assert shapes["q"] == (8, 8) and shapes["up"] == (32, 8) and shapes["down"] == (8, 32)
    assert not any(layer_type(n) for n in ("tok_embed.weight", "pos_embed", "head.weight", "norm_f.weight"))
