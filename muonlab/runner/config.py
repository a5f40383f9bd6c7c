"""Study files: TOML -> typed, frozen, validated configs (SPEC 5; docs/studies.md).

Schema (every key optional unless marked required)::

    name = "awbt_ablation"     # default: the file stem
    seeds = 10                 # n -> seeds 0..n-1, or a list of distinct ints >= 0
    steps = 1500               # >= 1; default per problem (see ``muonlab list``)
    every = 1                  # log a row of runs/<run_id>.csv every `every` steps
    device = "auto"            # auto | cpu | cuda
    dtype = "float32"          # float32 | float64
    batch_seeds = false        # vectorise seeds (SPEC 8); falls back to one run per seed

    [problem]                  # required (or `problem = "awbt"` for all defaults)
    name = "awbt"              # required: awbt | river_valley | digits
    kappa = [1e2, 1e4]         # any list is a grid: the cartesian product of all lists

    [injection]                # outlier injection (SPEC 2.2), awbt / river_valley only
    K_out = 50                 # s, a, site, mode, t_start

    [spikes]                   # spike-rule overrides (SPEC 4): window, tau, baseline, rho, delta

    [diagnostics]              # observers to enable (muonlab.runner.observers)

    [controls]                 # control runs (muonlab.runner.controls): baseline,
                               # no_injection, matched_step, lr_grid
    [tuning]                   # per-optimizer lr selection on tuning seeds: lr, seeds, rule
    [schedule]                 # lr schedule (muonlab.runner.schedules): name, warmup, decay;
    name = "wsd"               # a list is a grid axis (warmup = [0, 0.1])

    [[optimizers]]             # required, at least one; lists are a sweep
    name = "trasmuon"          # required: a muonlab.optim registry name
    label = "TrasMuon"         # optional display name (default: name), unique
    lr = [1e-3, 3e-3]          # any hyperparameter of muonlab.optim.hyperparameters(name)
    hybrid = true              # external optimizers on a model (digits, helmholtz, plugin
                               # problems): hidden matrices to it, the rest to AdamW

Validation happens once, here: every error is a :class:`ConfigError` whose one-line
message starts with the key path (``optimizers[1].lr``, ``problem.kappa``) and says what
is allowed. Code after this module trusts the config.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from muonlab import optim
from muonlab.schema import Schema
from muonlab.tomlcompat import tomllib

from .controls import Controls, Tuning, expand, parse_controls, parse_tuning, with_lr
from .observers import DiagnosticsSpec, parse_diagnostics
from .memory import RunSize, check_memory
from .problem_api import problem_kind, problem_names
from .problems import INJECTION_SETTINGS, SPIKE_SETTINGS, ProblemKind
from .schedules import is_constant, parse_schedule
from .settings import ConfigError, Setting, boolean, choice, int_at_least, type_name

STUDY_KEYS = (
    "name", "seeds", "steps", "every", "device", "dtype", "batch_seeds",
    "problem", "injection", "spikes", "diagnostics", "optimizers", "schedule", "controls", "tuning",
)  # fmt: skip
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("float32", "float64")
# The study's top-level keys (steps' default is the problem's).
STEPS = int_at_least("steps", 1, None, "training steps")
EVERY = int_at_least("every", 1, 1, "log a row every `every` steps")
DEVICE = choice("device", DEVICES, "auto", "torch device")
DTYPE = choice("dtype", DTYPES, "float32", "parameter dtype")
BATCH_SEEDS = boolean("batch_seeds", False, "vectorise seeds (SPEC 8)")
HYBRID = boolean("hybrid", None, "an external optimizer's hybrid split")
# Keywords the runner sets itself; a study may not.
RUNNER_HPARAMS = {
    "batched": "set by the runner from `batch_seeds`",
    "momentum_hook": "set by the runner from [injection]",
}
Items = tuple[tuple[str, Any], ...]
Grid = tuple[tuple[str, tuple[Any, ...]], ...]


def grid_points(grid: Grid) -> Iterator[Items]:
    """The cartesian product of a grid's axes as ``(key, value)`` pairs, first axis slowest."""
    keys = [k for k, _ in grid]
    for values in itertools.product(*(v for _, v in grid)):
        yield tuple(zip(keys, values))


@dataclass(frozen=True)
class RunConfig:
    """Everything one run depends on; :func:`muonlab.runner.run` is a pure function of it.

    ``settings`` holds every problem setting (defaults filled), ``injection`` every
    injection setting or ``None``, ``hparams`` the hyperparameters the study gave.
    ``device``, ``label``, ``spikes``, ``diagnostics``, ``control`` and ``matched_to``
    (the control labels of :mod:`muonlab.runner.controls`) do not change the trajectory
    and are not part of :attr:`run_id`.
    """

    problem: str
    settings: Items
    injection: Items | None
    steps: int
    every: int
    dtype: str
    optimizer: str
    hparams: Items
    seed: int
    label: str = ""
    device: str = "auto"
    spikes: Items = ()
    diagnostics: DiagnosticsSpec = DiagnosticsSpec()
    # An external optimizer's explicit split choice (None: the built-in rule, see
    # muonlab.runner.split); in the identity only when given, so built-in ids never change.
    hybrid: bool | None = None
    schedule: Items = ()
    control: str = "none"
    matched_to: str = ""

    def identity(self) -> dict[str, Any]:
        """The fields that define the run's trajectory (the input of :attr:`run_id`); an
        explicit ``hybrid`` and a non-constant schedule only, so run ids predating both
        are unchanged."""
        hybrid = {} if self.hybrid is None else {"hybrid": self.hybrid}
        schedule = {} if is_constant(dict(self.schedule)) else {"schedule": dict(self.schedule)}
        return {
            **hybrid,
            **schedule,
            "problem": self.problem,
            "settings": dict(self.settings),
            "injection": None if self.injection is None else dict(self.injection),
            "steps": self.steps,
            "every": self.every,
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "hparams": dict(self.hparams),
            "seed": self.seed,
        }

    def problem_settings(self) -> Schema:
        """``settings`` as the problem's typed schema (built-in problems and plugins that
        declare one; the runner's own keys such as ``other_lr`` stay in ``settings``)."""
        schema = problem_kind(self.problem).schema
        if schema is None:
            raise ValueError(f"problem {self.problem!r} declares no schema; read config.settings")
        return schema.from_items(self.settings)

    @property
    def run_id(self) -> str:
        """Stable 12-hex-digit blake2b of the canonical JSON of :meth:`identity`: the same
        run in two studies has the same id (what ``--resume`` relies on)."""
        canonical = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.blake2b(canonical.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True)
class OptimizerSpec:
    """One ``[[optimizers]]`` entry: registry name, display label, hyperparameter grid,
    and for an external optimizer its ``hybrid`` split choice."""

    name: str
    label: str
    grid: Grid
    hybrid: bool | None = None

    def combinations(self) -> Iterator[Items]:
        return grid_points(self.grid)


@dataclass(frozen=True)
class StudyConfig:
    """A validated study; :meth:`runs` expands its grids in study order (problem grid,
    then optimizer entries in file order with their sweeps, then seeds)."""

    name: str
    problem: str
    problem_grid: Grid
    injection: Items | None
    seeds: tuple[int, ...]
    steps: int
    every: int
    device: str
    dtype: str
    batch_seeds: bool
    spikes: Items
    diagnostics: DiagnosticsSpec
    optimizers: tuple[OptimizerSpec, ...]
    source: str = field(default="", repr=False)
    controls: Controls | None = None
    tuning: Tuning | None = None
    # Runs added once measured (matched-step controls, muonlab.runner.controls).
    extra_runs: tuple[RunConfig, ...] = ()
    schedule_grid: Grid = ()

    @property
    def kind(self) -> ProblemKind:
        return problem_kind(self.problem)

    def problem_combinations(self) -> Iterator[Items]:
        return grid_points(self.problem_grid)

    def schedule_combinations(self) -> Iterator[Items]:
        return grid_points(self.schedule_grid)

    def runs(self) -> tuple[RunConfig, ...]:
        out = []
        for settings, schedule in itertools.product(self.problem_combinations(), self.schedule_combinations()):
            for spec in self.optimizers:
                for hparams in spec.combinations():
                    for seed in self.seeds:
                        out.append(
                            RunConfig(
                                problem=self.problem,
                                settings=settings,
                                injection=self.injection,
                                steps=self.steps,
                                every=self.every,
                                dtype=self.dtype,
                                optimizer=spec.name,
                                hparams=hparams,
                                seed=seed,
                                label=spec.label,
                                hybrid=spec.hybrid,
                                device=self.device,
                                spikes=self.spikes,
                                diagnostics=self.diagnostics,
                                schedule=schedule,
                            )
                        )
        return (*expand(out, self.controls), *self.extra_runs)

    def size(self) -> RunSize:
        """What one run's memory grows with (:mod:`muonlab.runner.memory`)."""
        awbt_d = max(dict(self.problem_grid)["d"]) if self.problem == "awbt" else 0
        return RunSize(self.steps, self.every, len(self.seeds) if self.batch_seeds else 1, awbt_d)

    def swept_settings(self) -> tuple[str, ...]:
        """Problem settings with more than one value in the grid."""
        return tuple(k for k, v in self.problem_grid if len(v) > 1)

    def swept_schedule(self) -> tuple[str, ...]:
        """Schedule keys with more than one value, as ``summary.csv`` columns
        (``schedule`` for the name, ``warmup``, ``decay``)."""
        return tuple("schedule" if k == "name" else k for k, v in self.schedule_grid if len(v) > 1)

    def swept_hparams(self) -> tuple[str, ...]:
        """Hyperparameters given a list of several values in some optimizer entry."""
        keys: dict[str, None] = {}
        for spec in self.optimizers:
            keys.update((k, None) for k, v in spec.grid if len(v) > 1)
        return tuple(keys)


# -- parsing ---------------------------------------------------------------------------


def load_study_config(path: str | Path, *, device: str | None = None) -> StudyConfig:
    """Read and validate a study file; ``device`` (from the command line) overrides the file's."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such study file")
    text = path.read_text(encoding="utf-8")
    return parse_study(text, default_name=path.stem, device=device, origin=str(path))


def parse_study(text: str, *, default_name: str = "study", device: str | None = None, origin: str = "study") -> StudyConfig:
    """Validate the TOML ``text`` of a study (see the module docstring for the schema)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
    _check_keys(raw, STUDY_KEYS, "")

    name = _string(raw.get("name", default_name), "name")
    kind, problem_raw = _problem_table(raw)
    problem_grid = _problem_grid(kind, problem_raw)
    injection = _injection(raw.get("injection"), kind, problem_grid)
    seeds = _seeds(raw.get("seeds", 1))
    steps = _scalar(STEPS, raw.get("steps", kind.default_steps), "steps")
    every = _scalar(EVERY, raw.get("every", EVERY.default), "every")
    device = _scalar(DEVICE, device if device is not None else raw.get("device", DEVICE.default), "device")
    dtype = _scalar(DTYPE, raw.get("dtype", DTYPE.default), "dtype")
    batch_seeds = _scalar(BATCH_SEEDS, raw.get("batch_seeds", BATCH_SEEDS.default), "batch_seeds")
    spikes = _spikes(raw.get("spikes", {}), kind)
    diagnostics = parse_diagnostics(raw.get("diagnostics", {}), log_every=every)
    optimizers = _optimizers(raw.get("optimizers"), injection, kind)
    schedule_grid = parse_schedule(raw.get("schedule", {}), steps)
    controls = parse_controls(raw.get("controls"), [o.label for o in optimizers], has_injection=injection is not None)
    if controls is not None and controls.lr_grid:
        optimizers = tuple(replace(o, grid=with_lr(o.grid, controls.lr_grid)) for o in optimizers)
    tuning = parse_tuning(raw.get("tuning"), seeds, kind.finals)
    if tuning is not None and controls is not None and controls.lr_grid:
        raise ConfigError("tuning: cannot be combined with controls.lr_grid (tuning selects one lr per optimizer)")

    study = StudyConfig(
        name=name,
        problem=kind.name,
        problem_grid=problem_grid,
        injection=injection,
        seeds=seeds,
        steps=steps,
        every=every,
        device=device,
        dtype=dtype,
        batch_seeds=batch_seeds,
        spikes=spikes,
        diagnostics=diagnostics,
        optimizers=optimizers,
        source=text,
        controls=controls,
        tuning=tuning,
        schedule_grid=schedule_grid,
    )
    _check_distinct_runs(study)
    check_memory(study.size())
    return study


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{prefix}{key}: unknown key; allowed: {', '.join(allowed) or 'none'}")


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{path}: expected a non-empty string, got {type_name(value)} {value!r}")
    return value


def _scalar(setting: Setting, value: Any, path: str) -> Any:
    if isinstance(value, (list, dict)):
        raise ConfigError(f"{path}: expected a single {setting.kind.__name__} {setting.allowed}, got {type_name(value)}")
    return setting.coerce(value, path)


def _table(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: expected a table, got {type_name(value)} {value!r}")
    return value


def _problem_table(raw: Mapping[str, Any]) -> tuple[ProblemKind, Mapping[str, Any]]:
    allowed = ", ".join(problem_names())
    if "problem" not in raw:
        raise ConfigError(f"problem: missing; give [problem] with name = one of {allowed}")
    value = raw["problem"]
    table = {"name": value} if isinstance(value, str) else _table(value, "problem")
    if "name" not in table:
        raise ConfigError(f"problem.name: missing; allowed: {allowed}")
    name = table["name"]
    if not isinstance(name, str) or name not in problem_names():
        raise ConfigError(f"problem.name: unknown problem {name!r}; allowed: {allowed}")
    try:
        return problem_kind(name), table
    except ValueError as exc:
        raise ConfigError(f"problem.name: {exc}") from None


def _grid_values(setting: Setting, value: Any, path: str) -> tuple[Any, ...]:
    """A scalar is one value; a list is a grid axis (non-empty, distinct values)."""
    if not isinstance(value, list):
        return (setting.coerce(value, path),)
    if not value:
        raise ConfigError(f"{path}: empty list; give at least one value ({setting.kind.__name__} {setting.allowed})")
    values = tuple(setting.coerce(v, f"{path}[{i}]") for i, v in enumerate(value))
    if len(set(values)) != len(values):
        raise ConfigError(f"{path}: values must be distinct, got {value!r}")
    return values


def _problem_grid(kind: ProblemKind, table: Mapping[str, Any]) -> Grid:
    names = tuple(s.name for s in kind.settings)
    _check_keys({k: v for k, v in table.items() if k != "name"}, names, "problem.")
    # Every setting appears in the grid (defaults filled), in declaration order, so that
    # run ids do not depend on whether a default was spelled out.
    grid = tuple(
        (s.name, _grid_values(s, table[s.name], f"problem.{s.name}") if s.name in table else (s.default,))
        for s in kind.settings
    )
    kind.check_points(map(dict, grid_points(grid)))
    return grid


def _injection(value: Any, kind: ProblemKind, grid: Grid) -> Items | None:
    if value is None:
        return None
    table = _table(value, "injection")
    if kind.injection_columns is None:
        raise ConfigError(f"injection: problem {kind.name!r} takes no injection; remove [injection]")
    _check_keys(table, tuple(s.name for s in INJECTION_SETTINGS), "injection.")
    settings = {s.name: _scalar(s, table[s.name], f"injection.{s.name}") if s.name in table else s.default for s in INJECTION_SETTINGS}
    if settings["alpha_max"] is None:  # absent: no cap, and run ids as before the key existed
        del settings["alpha_max"]
    for point in map(dict, grid_points(grid)):
        columns = kind.injection_columns(point)
        if settings["s"] > columns:
            raise ConfigError(f"injection.s: must be <= the problem's {columns} columns (problem {point}), got {settings['s']}")
    return tuple(settings.items())


def _seeds(value: Any) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"seeds: a count must be >= 1 (or give a list of ints >= 0), got {value}")
        return tuple(range(value))
    if not isinstance(value, list):
        raise ConfigError(f"seeds: expected an integer count >= 1 or a list of ints >= 0, got {type_name(value)} {value!r}")
    if not value:
        raise ConfigError("seeds: empty list; give a count >= 1 or a list of ints >= 0")
    for i, seed in enumerate(value):
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"seeds[{i}]: expected an integer >= 0, got {type_name(seed)} {seed!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"seeds: values must be distinct, got {value!r}")
    return tuple(value)


def _spikes(value: Any, kind: ProblemKind) -> Items:
    table = _table(value, "spikes")
    _check_keys(table, tuple(s.name for s in SPIKE_SETTINGS), "spikes.")
    out = {s.name: _scalar(s, table[s.name], f"spikes.{s.name}") if s.name in table else s.default for s in SPIKE_SETTINGS}
    if out["rho"] is None:
        out["rho"] = kind.event_rho
    return tuple(out.items())


def _optimizers(value: Any, injection: Items | None, kind: ProblemKind) -> tuple[OptimizerSpec, ...]:
    if value is None:
        raise ConfigError("optimizers: missing; give at least one [[optimizers]] table with a name")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"optimizers: expected an array of tables ([[optimizers]]), got {type_name(value)}")
    if not value:
        raise ConfigError("optimizers: empty; give at least one [[optimizers]] table with a name")
    specs: list[OptimizerSpec] = []
    for i, table in enumerate(value):
        spec = _optimizer(table, f"optimizers[{i}]", injection, kind)
        for j, other in enumerate(specs):
            if other.label == spec.label:
                raise ConfigError(f"optimizers[{i}].label: {spec.label!r} is already used by optimizers[{j}]; give each entry a distinct label")
        specs.append(spec)
    return tuple(specs)


def _optimizer(table: Mapping[str, Any], path: str, injection: Items | None, kind: ProblemKind) -> OptimizerSpec:
    if "name" not in table:
        raise ConfigError(f"{path}.name: missing; allowed: {', '.join(optim.OPTIMIZERS)} or an external optimizer (module:Class)")
    name = table["name"]
    if not isinstance(name, str):
        raise ConfigError(f"{path}.name: expected a string, got {type_name(name)} {name!r}")
    try:
        defaults = optim.hyperparameters(name)
    except ValueError as exc:
        raise ConfigError(f"{path}.name: {exc}") from None
    label = _string(table.get("label", name), f"{path}.label")
    if injection is not None and dict(injection)["site"] == "momentum" and "momentum_hook" not in defaults:
        raise ConfigError(
            f"{path}.name: {optim.describe(name)} has no momentum hook for injection.site = \"momentum\"; "
            "use a Muon-family optimizer or injection.site = \"gradient\""
        )
    allowed = tuple(k for k in defaults if k not in RUNNER_HPARAMS)
    grid: list[tuple[str, tuple[Any, ...]]] = []
    for key, raw in table.items():
        if key in ("name", "label", "hybrid"):
            continue
        if key in RUNNER_HPARAMS:
            raise ConfigError(f"{path}.{key}: not allowed in a study ({RUNNER_HPARAMS[key]})")
        if key not in allowed:
            raise ConfigError(f"{path}.{key}: unknown hyperparameter of {optim.describe(name)}; allowed: {', '.join(allowed)}")
        values = _hparam_values(raw, defaults[key], f"{path}.{key}")
        for v in values:
            _try_build(name, {key: v}, f"{path}.{key}")
        grid.append((key, values))
    spec = OptimizerSpec(name=name, label=label, grid=tuple(grid), hybrid=_hybrid(table, path, name, kind))
    for combination in spec.combinations():
        _try_build(name, dict(combination), path)
    return spec


def _hybrid(table: Mapping[str, Any], path: str, name: str, kind: ProblemKind) -> bool | None:
    """An external optimizer's ``hybrid`` key (built-ins follow their fixed rule)."""
    if "hybrid" not in table:
        return None
    if name in optim.OPTIMIZERS:
        raise ConfigError(f"{path}.hybrid: only for external optimizers; built-in {name!r} follows the fixed split (docs/studies.md)")
    if not kind.splits:
        raise ConfigError(f"{path}.hybrid: problem {kind.name!r} has a single matrix parameter; the split applies to problems with a model")
    return _scalar(HYBRID, table["hybrid"], f"{path}.hybrid")


def _hparam_values(raw: Any, default: Any, path: str) -> tuple[Any, ...]:
    """A list is a sweep, except for tuple-valued keywords (``betas``), where a list of
    scalars is one value and a list of lists is the sweep."""
    tuple_valued = isinstance(default, tuple)
    is_sweep = isinstance(raw, list) and (not tuple_valued or all(isinstance(v, list) for v in raw))
    values = raw if is_sweep else [raw]
    if not values:
        raise ConfigError(f"{path}: empty list; give at least one value")
    out = []
    for v in values:
        if isinstance(v, dict):
            raise ConfigError(f"{path}: expected a value, got a table")
        if isinstance(v, list):
            v = tuple(v)
        for number in v if isinstance(v, tuple) else (v,):
            if isinstance(number, float) and not math.isfinite(number):
                raise ConfigError(f"{path}: must be a finite number, got {raw!r}")
        # An integer where the default is a float is the same number (lr = 1 is 1.0), so
        # that both spellings give the same run id.
        if isinstance(default, float) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        out.append(v)
    if len(set(out)) != len(out):
        raise ConfigError(f"{path}: values must be distinct, got {raw!r}")
    return tuple(out)


def _try_build(name: str, hparams: dict[str, Any], path: str) -> None:
    """Let the optimizer's own checks judge the values (one source of truth for ranges)."""
    dummy = torch.nn.Parameter(torch.zeros(2, 2))
    try:
        optim.build(name, [dummy], **hparams)
    except (ValueError, TypeError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: {message}") from None


def _check_distinct_runs(study: StudyConfig) -> None:
    seen: dict[str, str] = {}
    for run in study.runs():
        if run.run_id in seen:
            raise ConfigError(
                f"optimizers: entries {seen[run.run_id]!r} and {run.label!r} give identical runs "
                "(same optimizer and hyperparameters); remove one or change a hyperparameter"
            )
        seen[run.run_id] = run.label
