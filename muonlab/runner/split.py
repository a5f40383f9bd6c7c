"""Which optimizers get the hybrid split on a model (SPEC 1; issue 17).

Built-in rule: the Muon family (the optimizers with a ``momentum_hook``) takes the hidden
2-D weights and AdamW the rest; baselines take every parameter. An external optimizer
takes every parameter unless its study entry says ``hybrid = true``.
"""

from __future__ import annotations

from muonlab import optim

from .config import RunConfig


def wants_hybrid(config: RunConfig) -> bool:
    """Whether ``config``'s optimizer runs as the matrix side of :func:`muonlab.optim.hybrid`."""
    if config.hybrid is not None:
        return config.hybrid
    return "momentum_hook" in optim.hyperparameters(config.optimizer)
