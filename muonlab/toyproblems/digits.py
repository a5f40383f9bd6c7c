"""Digits MLP, SPEC 2.4: scikit-learn's bundled ``load_digits`` (1,797 8x8 images, no
download), standardised, a 3-layer MLP ``64 -> h -> h -> 10``, mini-batch cross-entropy.

Everything random comes from ``seed``: the stratified train/test split, the weight
init (a local generator reproducing ``nn.Linear``'s default init, so the global RNG is
never touched) and the mini-batch of step t (drawn from ``(seed, t)``, so a resumed run
sees the same batches). The loss is available functionally (``functional_call`` over
given parameters) for Hessian tools and for the vmapped seed ensemble.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state

from muonlab.schema import SEED, Schema, at_least, one_of, rule
from muonlab.streams import step_rng

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}
N_FEATURES, N_CLASSES = 64, 10


@dataclass(frozen=True)
class DigitsSettings(Schema):
    """The settings of :class:`DigitsMLP` (a study's ``[problem]`` keys; SPEC 2.4)."""

    owner: ClassVar[str] = "DigitsMLP"
    hidden: int = at_least(1, 64, "hidden width")
    batch_size: int = at_least(1, 64, "mini-batch size")
    test_fraction: float = rule(0.2, "in (0, 1)", lambda v: 0.0 < v < 1.0, "held-out share, stratified")
    activation: str = one_of(ACTIVATIONS, "relu", "hidden activation")


def load_split(seed: int, test_fraction: float) -> tuple[np.ndarray, ...]:
    """Standardised ``(X_train, X_test, y_train, y_test)``: a stratified split seeded by
    ``seed``, scaled with training statistics only (no test leakage)."""
    # imported here: scikit-learn adds about a second to `import muonlab.toyproblems`
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction,
                                              random_state=seed, stratify=y)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def _seeded_linear(fan_in: int, fan_out: int, generator: torch.Generator, dtype: torch.dtype) -> nn.Linear:
    """``nn.Linear`` with its default init (kaiming-uniform a=sqrt(5), uniform bias)
    drawn from ``generator``; ``skip_init`` avoids the global-RNG default init."""
    layer = nn.utils.skip_init(nn.Linear, fan_in, fan_out, dtype=dtype)
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def build_mlp(hidden: int, activation: str, seed: int, dtype: torch.dtype) -> nn.Sequential:
    """The 3-layer MLP ``64 -> hidden -> hidden -> 10`` on CPU, seeded."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    act = ACTIVATIONS[activation]
    return nn.Sequential(_seeded_linear(N_FEATURES, hidden, gen, dtype), act(),
                         _seeded_linear(hidden, hidden, gen, dtype), act(),
                         _seeded_linear(hidden, N_CLASSES, gen, dtype))


class DigitsMLP:
    """The digits classification problem of SPEC 2.4 (one seed).

    Args:
        seed: split, init and mini-batch seed.
        hidden: hidden width h (>= 1).  batch_size: mini-batch size (1..n_train).
        test_fraction: held-out fraction in (0, 1), stratified by class.
        activation: ``"relu"`` or ``"tanh"``.
        dtype, device: of the data and the model.
    """

    def __init__(self, seed: int = 0, *, hidden: int = DigitsSettings.hidden, batch_size: int = DigitsSettings.batch_size,
                 test_fraction: float = DigitsSettings.test_fraction, activation: str = DigitsSettings.activation,
                 dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> None:
        owner = "DigitsMLP"
        self.seed = SEED.coerce(seed, f"{owner}.seed")
        s = DigitsSettings(hidden=hidden, batch_size=batch_size, test_fraction=test_fraction, activation=activation)
        self.hidden, self.batch_size, self.test_fraction, self.activation = s.hidden, s.batch_size, s.test_fraction, s.activation
        self.dtype, self.device = dtype, torch.device(device)

        X_tr, X_te, y_tr, y_te = load_split(seed, self.test_fraction)
        self.X_train, self.X_test = (torch.as_tensor(a, dtype=dtype, device=self.device)
                                     for a in (X_tr, X_te))
        self.y_train, self.y_test = (torch.as_tensor(a, dtype=torch.long, device=self.device)
                                     for a in (y_tr, y_te))
        if batch_size > len(self.y_train):
            raise ValueError(f"{owner}: batch_size must be <= the training-set size "
                             f"{len(self.y_train)}, got {batch_size}")
        self.model = build_mlp(hidden, activation, seed, dtype).to(self.device)

    @classmethod
    def from_settings(cls, settings: DigitsSettings, seed: int = 0, *, dtype: torch.dtype = torch.float32,
                      device: str | torch.device = "cpu") -> "DigitsMLP":
        """The instance of ``settings`` for ``seed``."""
        return cls(seed, **settings.kwargs(), dtype=dtype, device=device)

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """The mini-batch of ``step`` (drawn without replacement from ``(seed, step)``)."""
        idx = step_rng(self.seed, step, "digits_batch").choice(len(self.y_train), self.batch_size,
                                                                replace=False)
        idx_t = torch.as_tensor(idx, device=self.device)
        return self.X_train[idx_t], self.y_train[idx_t]

    def logits(self, X: Tensor, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """Model output on ``X``; with ``params`` through ``functional_call``."""
        return self.model(X) if params is None else functional_call(self.model, dict(params), (X,))

    def loss(self, X: Tensor, y: Tensor, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """Mean cross-entropy."""
        return F.cross_entropy(self.logits(X, params), y)

    def batch_loss(self, step: int, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """Cross-entropy on the mini-batch of ``step``."""
        return self.loss(*self.batch(step), params)

    def test_loss(self, params: Mapping[str, Tensor] | None = None) -> Tensor:
        with torch.no_grad():
            return self.loss(self.X_test, self.y_test, params)

    def accuracy(self, params: Mapping[str, Tensor] | None = None) -> Tensor:
        """Test-split accuracy as a 0-d tensor (no host sync)."""
        with torch.no_grad():
            return (self.logits(self.X_test, params).argmax(-1) == self.y_test).to(self.dtype).mean()

    def loss_fn(self, X: Tensor, y: Tensor) -> Callable[[Sequence[Tensor]], Tensor]:
        """``loss_fn(params: list[Tensor])`` in ``model.parameters()`` order (SPEC 10)."""
        names = [name for name, _ in self.model.named_parameters()]
        return lambda params: self.loss(X, y, dict(zip(names, params)))


class DigitsMLPBatch:
    """S digits problems (one per seed: own split, init and batches) as a vmapped
    ensemble (issue 7): parameters stacked by ``torch.func.stack_module_state``."""

    def __init__(self, problems: Sequence[DigitsMLP]) -> None:
        if not problems:
            raise ValueError("DigitsMLPBatch: problems must be a non-empty sequence")
        settings = {(p.hidden, p.batch_size, p.test_fraction, p.activation, p.dtype, p.device)
                    for p in problems}
        if len(settings) != 1:
            raise ValueError("DigitsMLPBatch: problems must share every setting but the seed")
        self.problems = tuple(problems)
        # a parameter-free copy of the architecture for functional_call under vmap
        self._skeleton = copy.deepcopy(problems[0].model).to("meta")
        self.X_test = torch.stack([p.X_test for p in problems])
        self.y_test = torch.stack([p.y_test for p in problems])

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], **settings: object) -> "DigitsMLPBatch":
        return cls([DigitsMLP(s, **settings) for s in seeds])

    def __len__(self) -> int:
        return len(self.problems)

    def init_params(self) -> dict[str, Tensor]:
        """Stacked copies ``(S, ...)`` of every problem's initial parameters."""
        params, _ = stack_module_state([p.model for p in self.problems])
        return {name: t.detach().clone() for name, t in params.items()}

    def batch(self, step: int) -> tuple[Tensor, Tensor]:
        """``(S, B, 64)`` inputs and ``(S, B)`` labels: each seed's own mini-batch."""
        Xs, ys = zip(*(p.batch(step) for p in self.problems))
        return torch.stack(Xs), torch.stack(ys)

    def _logits(self, params: Mapping[str, Tensor], X: Tensor) -> Tensor:
        call = lambda prm, x: functional_call(self._skeleton, prm, (x,))  # noqa: E731
        return torch.vmap(call)(dict(params), X)

    def loss(self, params: Mapping[str, Tensor], X: Tensor, y: Tensor) -> Tensor:
        """``(S,)`` per-seed mean cross-entropies."""
        logits = self._logits(params, X)
        return F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(-1)

    def batch_loss(self, params: Mapping[str, Tensor], step: int) -> Tensor:
        return self.loss(params, *self.batch(step))

    def accuracy(self, params: Mapping[str, Tensor]) -> Tensor:
        """``(S,)`` test accuracies."""
        with torch.no_grad():
            pred = self._logits(params, self.X_test).argmax(-1)
            return (pred == self.y_test).to(self.problems[0].dtype).mean(-1)
