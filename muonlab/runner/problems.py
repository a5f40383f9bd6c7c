"""Registry of the problem kinds a study can name (SPEC 2, 5).

Each built-in problem declares its settings once, as a :class:`muonlab.schema.Schema`
dataclass next to the problem (``AWBTSettings`` in :mod:`muonlab.toyproblems.awbt`, ...);
its constructor, study validation and ``muonlab list`` all read that declaration. This
module adds what the runner needs to join a problem with optimizers: default steps, the
``summary.csv`` finals, injection columns, the spike threshold and the runner's own keys
(``other_lr``, the AdamW lr of the hybrid split, after the problem's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from muonlab.gpt import GPTSettings
from muonlab.pinn import HelmholtzSettings
from muonlab.schema import ConfigError, Schema, Setting, float_at_least, int_at_least, settings_of
from muonlab.toyproblems import AWBTSettings, DigitsSettings, InjectionSettings, RiverValleySettings


@dataclass(frozen=True)
class ProblemKind:
    """A problem a study can run.

    ``schema`` is the problem's settings dataclass (``None`` for a plugin that declares
    plain :class:`Setting` s); ``more_settings`` come after the schema's: the runner's own
    keys (``other_lr``) or a plugin's ``settings`` tuple. ``injection_columns(settings)`` is
    the number of feature columns an outlier injection may pick from (``None`` when the
    problem takes no injection); ``event_rho`` the default spike threshold of the
    event-aligned rule (SPEC 4); ``finals`` the problem-specific columns of
    ``summary.csv``; ``splits`` whether its parameters are a model the hybrid split
    applies to (an external optimizer's ``hybrid``).
    """

    name: str
    description: str
    schema: type[Schema] | None
    default_steps: int
    finals: tuple[str, ...]
    more_settings: tuple[Setting, ...] = ()
    injection_columns: Callable[[Mapping[str, Any]], int] | None = None
    event_rho: float = 1.5
    splits: bool = False

    @property
    def settings(self) -> tuple[Setting, ...]:
        """Every ``[problem]`` key, in declaration order (the order of the study grid)."""
        return (*settings_of(self.schema), *self.more_settings)

    def setting(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.name == key), None)

    def check_points(self, points: Iterable[Mapping[str, Any]]) -> None:
        """The schema's joint rule at every grid point (:class:`ConfigError` naming
        ``problem.<key>`` at the first point that breaks it)."""
        if self.schema is None:
            return
        for point in points:
            broken = self.schema.joint(point)
            if broken is not None:
                raise ConfigError(f"problem.{broken[0]}: {broken[1]}")


def _other_lr(help: str) -> Setting:
    return float_at_least("other_lr", 0.0, 3e-3, help, strict=True)


AWBT_KIND = ProblemKind(
    name="awbt",
    description="AWB-T quadratic 1/2||AWB - T||_F^2 with exact condition number (SPEC 2.1, eq. T-44)",
    schema=AWBTSettings,
    default_steps=1500,
    finals=("final_rel_dist",),
    injection_columns=lambda s: s["d"],
)

RIVER_VALLEY_KIND = ProblemKind(
    name="river_valley",
    description="river-valley landscape on an m x n matrix, known river/wall subspaces (SPEC 2.3)",
    schema=RiverValleySettings,
    default_steps=500,
    finals=("final_river_progress", "final_wall_energy"),
    injection_columns=lambda s: s["n"],
)

DIGITS_KIND = ProblemKind(
    name="digits",
    description="3-layer MLP on scikit-learn's bundled digits, mini-batch cross-entropy (SPEC 2.4)",
    schema=DigitsSettings,
    default_steps=500,
    finals=("final_test_loss", "final_test_acc"),
    splits=True,
)

HELMHOLTZ_KIND = ProblemKind(
    name="helmholtz",
    description="Helmholtz PINN (k = 2) under random-ROI sampling shifts, hybrid split (SPEC 3, T Appendix F)",
    schema=HelmholtzSettings,
    default_steps=4000,
    finals=("final_rel_l2", "rel_l2_t0", "step_size_median"),
    more_settings=(_other_lr("AdamW lr of the non-matrix parameters (matrix optimizers only)"),),
    event_rho=3.0,
    splits=True,
)

GPT_KIND = ProblemKind(
    name="gpt",
    description="decoder-only GPT on a Markov source with a known entropy rate or a local text file (SPEC 12, docs/gpt.md)",
    schema=GPTSettings,
    default_steps=400,
    finals=("final_val_loss", "final_val_gap", "entropy_floor", "steps_to_threshold"),
    more_settings=(_other_lr("AdamW lr of embeddings, norms and head (matrix optimizers only)"),),
    injection_columns=lambda s: s["d_model"],
    splits=True,
)

PROBLEMS: dict[str, ProblemKind] = {
    kind.name: kind for kind in (AWBT_KIND, RIVER_VALLEY_KIND, DIGITS_KIND, HELMHOLTZ_KIND, GPT_KIND)
}

INJECTION_SETTINGS: tuple[Setting, ...] = InjectionSettings.settings()

SPIKE_SETTINGS: tuple[Setting, ...] = (
    int_at_least("window", 1, 20, "unaligned rule: median window w"),
    float_at_least("tau", 1.0, 1.5, "unaligned rule: spike when loss > tau * median", strict=True),
    int_at_least("baseline", 1, 10, "event-aligned rule: baseline steps B"),
    float_at_least("rho", 1.0, None, "event-aligned rule: spike when peak ratio >= rho (default per problem)", strict=True),
    float_at_least("delta", 0.0, 0.5, "event-aligned rule: recovered when loss <= (1 + delta) baseline"),
)
