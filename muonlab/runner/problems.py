"""Registry of the problem kinds a study can name, with their settings (SPEC 2, 5).

Used once by study validation and by ``muonlab list``; the task adapters in
:mod:`muonlab.runner.tasks` build the problem objects from the validated settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from muonlab.gpt import is_data_spec
from muonlab.gpt.markov import MAX_CONTEXTS
from muonlab.pinn import ACTIVATIONS, LAPLACIANS

from .settings import Setting, boolean, choice, float_at_least, int_at_least


@dataclass(frozen=True)
class ProblemKind:
    """A problem a study can run.

    ``injection_columns(settings)`` is the number of feature columns an outlier
    injection may pick from (``None`` when the problem takes no injection);
    ``event_rho`` the default spike threshold of the event-aligned rule (SPEC 4);
    ``finals`` the problem-specific columns of ``summary.csv``; ``splits`` whether its
    parameters are a model the hybrid split applies to (an external optimizer's ``hybrid``);
    ``check(settings)`` a cross-setting rule, returning ``(key, message)`` for one grid
    point that breaks it.
    """

    name: str
    description: str
    settings: tuple[Setting, ...]
    default_steps: int
    finals: tuple[str, ...]
    injection_columns: Callable[[Mapping[str, Any]], int] | None = None
    event_rho: float = 1.5
    splits: bool = False
    check: Callable[[Mapping[str, Any]], tuple[str, str] | None] | None = None

    def setting(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.name == key), None)


AWBT_KIND = ProblemKind(
    name="awbt",
    description="AWB-T quadratic 1/2||AWB - T||_F^2 with exact condition number (SPEC 2.1, eq. T-44)",
    settings=(
        int_at_least("d", 2, 64, "W is d x d"),
        float_at_least("kappa", 1.0, 1e4, "exact Hessian condition number"),
        boolean("fix_V", True, "true: V = I (columns are B's eigen-axes); false: Haar-random V"),
        float_at_least("scale", 0.0, 1.0, "multiplies the loss (SPEC 11; 1 = SPEC 2.1)", strict=True),
    ),
    default_steps=1500,
    finals=("final_rel_dist",),
    injection_columns=lambda s: s["d"],
)

RIVER_VALLEY_KIND = ProblemKind(
    name="river_valley",
    description="river-valley landscape on an m x n matrix, known river/wall subspaces (SPEC 2.3)",
    settings=(
        int_at_least("m", 1, 16, "rows of W"),
        int_at_least("n", 2, 16, "columns of W (one river coordinate per column)"),
        choice("kind", ("straight", "curved"), "straight", "valley shape"),
        boolean("rotated", False, "Haar-rotate the river/wall coordinates"),
        float_at_least("mu", 0.0, 0.1, "river curvature", strict=True),
        float_at_least("kappa_wall", 1.0, 10.0, "wall curvatures log-spaced in [10, 10 kappa_wall]"),
        Setting("x_star", float, 5.0, "a finite number", math.isfinite, "river target"),
        Setting("a", float, 1.0, "a finite number", math.isfinite, "curved-wall amplitude"),
        Setting("k", float, 0.5, "a finite number", math.isfinite, "curved-wall frequency"),
        choice("noise", ("none", "gaussian", "anisotropic", "student_t"), "none", "gradient noise kind"),
        float_at_least("noise_std", 0.0, 0.0, "gradient noise standard deviation"),
    ),
    default_steps=500,
    finals=("final_river_progress", "final_wall_energy"),
    injection_columns=lambda s: s["n"],
)

DIGITS_KIND = ProblemKind(
    name="digits",
    description="3-layer MLP on scikit-learn's bundled digits, mini-batch cross-entropy (SPEC 2.4)",
    settings=(
        int_at_least("hidden", 1, 64, "hidden width"),
        int_at_least("batch_size", 1, 64, "mini-batch size"),
        Setting("test_fraction", float, 0.2, "in (0, 1)", lambda v: 0.0 < v < 1.0, "held-out share, stratified"),
        choice("activation", ("relu", "tanh"), "relu", "hidden activation"),
    ),
    default_steps=500,
    finals=("final_test_loss", "final_test_acc"),
    splits=True,
)

HELMHOLTZ_KIND = ProblemKind(
    name="helmholtz",
    description="Helmholtz PINN (k = 2) under random-ROI sampling shifts, hybrid split (SPEC 3, T Appendix F)",
    settings=(
        float_at_least("k", 0.0, 2.0, "wavenumber factor, kappa = pi k", strict=True),
        float_at_least("lambda_b", 0.0, 100.0, "boundary-loss weight"),
        int_at_least("N_r", 1, 1024, "interior points per step"),
        int_at_least("N_b", 1, 256, "boundary points per step"),
        boolean("roi", True, "ROI events on (false: uniform sampling throughout, same t0 for the stationary window)"),
        int_at_least("t0", 1, 1000, "first ROI event step; steps < t0 are the stationary window"),
        int_at_least("K_out", 1, 20, "an ROI event every K_out steps"),
        Setting("alpha", float, 0.95, "in [0, 1]", lambda v: 0.0 <= v <= 1.0, "ROI share of the interior mixture (eq. T-43)"),
        int_at_least("eval_every", 1, 200, "global rel-L2 every eval_every steps"),
        int_at_least("width", 1, 64, "hidden width"),
        int_at_least("depth", 1, 3, "hidden layers"),
        choice("activation", tuple(ACTIVATIONS), "tanh", "activation"),
        choice("laplacian", LAPLACIANS, "forward", "exact Laplacian implementation"),
        int_at_least("eval_grid", 1, 128, "global n x n evaluation grid"),
        int_at_least("roi_grid", 1, 64, "n x n grid inside the ROI"),
        int_at_least("N_nonroi", 1, 4096, "non-ROI evaluation points"),
        float_at_least("other_lr", 0.0, 3e-3, "AdamW lr of the non-matrix parameters (matrix optimizers only)", strict=True),
    ),
    default_steps=4000,
    finals=("final_rel_l2", "rel_l2_t0", "step_size_median"),
    event_rho=3.0,
    splits=True,
)

def _check_gpt(s: Mapping[str, Any]) -> tuple[str, str] | None:
    """The GPT settings' joint rules (MarkovSource and GPT raise on them otherwise)."""
    if s["d_model"] % s["n_heads"]:
        return "d_model", f"must be a multiple of n_heads = {s['n_heads']}, got {s['d_model']}"
    if s["data"] == "markov":
        if s["support"] > s["vocab"]:
            return "support", f"must be <= vocab = {s['vocab']}, got {s['support']}"
        if s["vocab"] ** s["order"] > MAX_CONTEXTS:
            return "order", f"vocab**order must be <= {MAX_CONTEXTS} contexts, got {s['vocab']}**{s['order']}"
    return None


GPT_KIND = ProblemKind(
    name="gpt",
    description="decoder-only GPT on a Markov source with a known entropy rate or a local text file (SPEC 12, docs/gpt.md)",
    settings=(
        Setting("data", str, "markov", '"markov" or "file:PATH" of an existing text file', is_data_spec, "token source"),
        int_at_least("vocab", 2, 64, "markov: vocabulary size"),
        int_at_least("order", 1, 1, "markov: context length k of the order-k chain"),
        int_at_least("support", 1, 8, "markov: successors per context (sparsity; <= vocab)"),
        float_at_least("zipf", 0.0, 1.0, "markov: Zipf exponent of the transition rows"),
        int_at_least("source_seed", 0, 0, "markov: seed of the language (the same for every run seed)"),
        int_at_least("d_model", 1, 64, "width (a multiple of n_heads)"),
        int_at_least("n_layers", 1, 2, "transformer blocks"),
        int_at_least("n_heads", 1, 4, "attention heads"),
        int_at_least("context", 2, 64, "sequence length"),
        int_at_least("batch_size", 1, 16, "sequences per step"),
        int_at_least("eval_every", 1, 50, "validation loss and Gram dominance every eval_every steps"),
        int_at_least("eval_batches", 1, 4, "fixed validation batches"),
        float_at_least("threshold", 0.0, 2.5, "training-loss threshold for steps_to_threshold (nats)", strict=True),
        choice("inject_layers", ("all", "attention", "mlp", "none"), "all",
               "[injection] targets: Q,K,V,O and/or MLP up/down; none = the burst-off control at the same event steps"),
        float_at_least("other_lr", 0.0, 3e-3, "AdamW lr of embeddings, norms and head (matrix optimizers only)", strict=True),
    ),
    default_steps=400,
    finals=("final_val_loss", "final_val_gap", "entropy_floor", "steps_to_threshold"),
    injection_columns=lambda s: s["d_model"],
    splits=True,
    check=_check_gpt,
)

PROBLEMS: dict[str, ProblemKind] = {
    kind.name: kind for kind in (AWBT_KIND, RIVER_VALLEY_KIND, DIGITS_KIND, HELMHOLTZ_KIND, GPT_KIND)
}

INJECTION_SETTINGS: tuple[Setting, ...] = (
    int_at_least("K_out", 1, 50, "an event every K_out steps"),
    int_at_least("s", 1, 2, "columns per event (<= the problem's column count)"),
    float_at_least("a", 0.0, 10.0, "burst amplitude", strict=True),
    choice("site", ("momentum", "gradient"), "momentum", "where the burst is applied"),
    choice("mode", ("multiplicative", "additive"), "multiplicative", "eq. T-45 or the ViT-style additive burst"),
    int_at_least("t_start", 1, None, "first event step (default K_out)"),
    choice("J_mode", ("random", "fixed"), "random", "a fresh column set per event, or one for all"),
    float_at_least("rho", 0.0, 1.0, "additive mode: burst size relative to ||X||_F / sqrt(mn)", strict=True),
    float_at_least("alpha_max", 0.0, None, "additive mode: cap on the burst size alpha (default: none)", strict=True),
)

SPIKE_SETTINGS: tuple[Setting, ...] = (
    int_at_least("window", 1, 20, "unaligned rule: median window w"),
    float_at_least("tau", 1.0, 1.5, "unaligned rule: spike when loss > tau * median", strict=True),
    int_at_least("baseline", 1, 10, "event-aligned rule: baseline steps B"),
    float_at_least("rho", 1.0, None, "event-aligned rule: spike when peak ratio >= rho (default per problem)", strict=True),
    float_at_least("delta", 0.0, 0.5, "event-aligned rule: recovered when loss <= (1 + delta) baseline"),
)
