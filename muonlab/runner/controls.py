"""Study controls (SPEC 11): ``[controls]`` expanded into labelled control runs.

Schema::

    [controls]
    baseline = "TrasMuon-NOCLIP"   # label of the reference arm (required by matched_step)
    no_injection = true            # every optimizer again without injection, same seeds
    matched_step = true            # true (every other arm) or a list of treatment labels
    lr_grid = [1e-3, 3e-3]         # the whole comparison at each lr (replaces each arm's lr)

- ``no_injection``: the burst effect of a metric is the run with injection against the
  same seed's run without it (control ``no_injection``).
- ``matched_step``: for each treatment arm and problem cell, a run of the baseline arm
  whose lr makes its median ``update_rms`` (median over logged steps, then over seeds)
  equal the treatment's achieved one within :data:`MATCH_TOLERANCE` (T App. G's "not a
  trivial step-size reduction" control, measured rather than assumed). The lr is found
  by :func:`solve_matched_lr`: fixed-point iterations ``lr <- lr * target / measured``,
  exact when ``update_rms`` is proportional to lr (the calibrated NorMuon backbone:
  update RMS = lr) and a secant-like step otherwise. Runs get control ``matched_step``
  and ``matched_to`` = the treatment's label.
- ``lr_grid``: every optimizer entry runs at each lr of the grid (``lr`` becomes a swept
  column); control ``none``.

Every control run uses the study's seeds (common random numbers).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .observers import DiagnosticsSpec
from .settings import ConfigError, type_name

CONTROL_KEYS = ("baseline", "no_injection", "matched_step", "lr_grid")
CONTROLS = ("none", "no_injection", "matched_step")
MATCH_TOLERANCE = 0.05  # |achieved / target - 1| accepted (SPEC 11)
MATCH_AIM = 0.01  # iterations stop early once this close
MAX_PROBES = 6


@dataclass(frozen=True)
class Controls:
    """A validated ``[controls]`` table."""

    baseline: str | None = None
    no_injection: bool = False
    matched_step: tuple[str, ...] = ()
    lr_grid: tuple[float, ...] = ()


def parse_controls(value: Any, labels: Sequence[str], *, has_injection: bool) -> Controls | None:
    """Validate ``[controls]`` against the study's optimizer ``labels``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"controls: expected a table, got {type_name(value)} {value!r}")
    for key in value:
        if key not in CONTROL_KEYS:
            raise ConfigError(f"controls.{key}: unknown key; allowed: {', '.join(CONTROL_KEYS)}")
    baseline = value.get("baseline")
    if baseline is not None and baseline not in labels:
        raise ConfigError(f"controls.baseline: {baseline!r} is not an optimizer label; allowed: {', '.join(labels)}")
    no_injection = value.get("no_injection", False)
    if not isinstance(no_injection, bool):
        raise ConfigError(f"controls.no_injection: expected true or false, got {no_injection!r}")
    if no_injection and not has_injection:
        raise ConfigError("controls.no_injection: the study has no [injection]; remove it or add [injection]")
    matched = value.get("matched_step", False)
    if matched is True or matched is False:
        treatments = tuple(l for l in labels if l != baseline) if matched else ()
    elif isinstance(matched, list) and all(isinstance(m, str) for m in matched):
        for m in matched:
            if m not in labels or m == baseline:
                raise ConfigError(f"controls.matched_step: {m!r} is not a treatment label; allowed: "
                                  f"{', '.join(l for l in labels if l != baseline)}")
        treatments = tuple(matched)
    else:
        raise ConfigError(f"controls.matched_step: expected true, false or a list of labels, got {matched!r}")
    if treatments and baseline is None:
        raise ConfigError("controls.baseline: missing; matched_step needs the label of the arm whose lr is matched")
    grid = value.get("lr_grid", [])
    if not isinstance(grid, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                             and math.isfinite(v) and v > 0 for v in grid):
        raise ConfigError(f"controls.lr_grid: expected a list of numbers > 0, got {grid!r}")
    if len(set(grid)) != len(grid):
        raise ConfigError(f"controls.lr_grid: values must be distinct, got {grid!r}")
    if grid and treatments:
        raise ConfigError("controls.lr_grid: cannot be combined with matched_step (one matched lr per arm); "
                          "run them as two studies")
    return Controls(baseline=baseline, no_injection=no_injection, matched_step=treatments,
                    lr_grid=tuple(float(v) for v in grid))


def with_lr(grid: tuple[tuple[str, tuple[Any, ...]], ...], lrs: tuple[float, ...]) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """An optimizer entry's hyperparameter grid with ``lr`` replaced by ``lrs``."""
    return (*((k, v) for k, v in grid if k != "lr"), ("lr", lrs))


def expand(runs: Sequence[Any], controls: Controls | None) -> tuple[Any, ...]:
    """The study's runs followed by the ``no_injection`` copies (same seeds, same
    order). ``lr_grid`` acts on the optimizer grids (:func:`with_lr`) and matched-step
    runs are added by :func:`matched_step_runs` once measured."""
    if controls is None or not controls.no_injection:
        return tuple(runs)
    return (*runs, *(replace(r, injection=None, control="no_injection") for r in runs if r.injection is not None))


# -- matched step ------------------------------------------------------------------------


def median_update_rms(result: Any) -> float:
    """Median over logged steps of a run's ``update_rms`` (NaN when not logged or failed)."""
    values = np.asarray(result.columns.get("update_rms", []), dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


def cell_update_rms(results: Sequence[Any]) -> float:
    """Median over seeds of :func:`median_update_rms`."""
    values = np.asarray([median_update_rms(r) for r in results], dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(np.median(values)) if values.size else math.nan


@dataclass(frozen=True)
class MatchRecord:
    """One matched-step solve (a row of ``matched_step.csv``)."""

    cell: str
    treatment: str
    baseline: str
    target_update_rms: float
    lr: float
    achieved_update_rms: float
    probes: int

    @property
    def ratio(self) -> float:
        return self.achieved_update_rms / self.target_update_rms


def solve_matched_lr(measure: Callable[[float], float], target: float, lr0: float, rms0: float) -> tuple[float, float, int]:
    """The lr at which ``measure(lr)`` (a median update RMS) is within :data:`MATCH_AIM`
    of ``target`` (or the best of :data:`MAX_PROBES` probes). Starts from the known point
    ``(lr0, rms0)``; each step assumes ``rms`` proportional to lr locally (secant
    through the origin on a log scale when two probes exist). Returns ``(lr, rms, probes)``."""
    points = [(lr0, rms0)]
    lr = lr0 * target / rms0
    best = (lr0, rms0)
    for probe in range(1, MAX_PROBES + 1):
        rms = measure(lr)
        points.append((lr, rms))
        if abs(math.log(rms / target)) < abs(math.log(best[1] / target)):
            best = (lr, rms)
        if abs(rms / target - 1.0) <= MATCH_AIM:
            return lr, rms, probe
        (l1, r1), (l2, r2) = points[-2], points[-1]
        slope = math.log(r2 / r1) / math.log(l2 / l1) if l1 != l2 and r1 != r2 else 1.0
        slope = slope if slope > 0.1 else 1.0  # guard against a flat or inverted response
        lr = l2 * math.exp(math.log(target / r2) / slope)
    return best[0], best[1], MAX_PROBES


def matched_step_runs(
    runs: Sequence[Any],
    controls: Controls,
    execute_all: Callable[[Sequence[Any]], list[Any]],
    cell_of: Callable[[Any], str],
) -> tuple[tuple[Any, ...], dict[str, Any], tuple[MatchRecord, ...]]:
    """Measure the treatments, solve each matched lr and run the matched baselines.

    ``runs``: the study's injected runs (control ``none``); ``execute_all(configs)``
    runs configs and returns their results in order; ``cell_of(config)`` names a
    problem cell. Returns the matched-step run configs, every result computed on the
    way whose config is part of the study (treatments, baseline, matched runs; keyed by
    run id, to be recorded rather than run again) and the solve records.
    """
    by_cell: dict[str, dict[str, list[Any]]] = {}
    for run in runs:
        if run.control == "none" and run.label in (controls.baseline, *controls.matched_step):
            by_cell.setdefault(cell_of(run), {}).setdefault(run.label, []).append(run)
    known: dict[str, Any] = {}
    to_measure = [r for arms in by_cell.values() for r in (*arms.get(controls.baseline, []),
                                                          *(x for t in controls.matched_step for x in arms.get(t, [])))]
    for result in execute_all(to_measure):
        known[result.run_id] = result
    matched: list[Any] = []
    records: list[MatchRecord] = []
    for cell, arms in by_cell.items():
        base_runs = arms[controls.baseline]
        base_lr = float(dict(base_runs[0].hparams).get("lr", default_lr(base_runs[0].optimizer)))
        base_rms = cell_update_rms([known[r.run_id] for r in base_runs])
        for treatment in controls.matched_step:
            target = cell_update_rms([known[r.run_id] for r in arms[treatment]])
            probed: dict[float, list[Any]] = {}

            def measure(lr: float, base_runs: list[Any] = base_runs, treatment: str = treatment) -> float:
                configs = [_matched(r, lr, treatment) for r in base_runs]
                probed[lr] = execute_all(configs)
                return cell_update_rms(probed[lr])

            lr, rms, probes = solve_matched_lr(measure, target, base_lr, base_rms)
            chosen = probed[lr] if lr in probed else execute_all([_matched(r, lr, treatment) for r in base_runs])
            for result in chosen:
                known[result.run_id] = result
                matched.append(result.config)
            records.append(MatchRecord(cell, treatment, controls.baseline, target, lr, rms, probes))
            if not abs(rms / target - 1.0) <= MATCH_TOLERANCE:
                print(f"muonlab: matched_step: {cell} {treatment}: no lr within {MATCH_TOLERANCE:.0%} of the "
                      f"target update RMS after {probes} probes (ratio {rms / target:.3f}); recorded as is",
                      file=sys.stderr)
    return tuple(matched), known, tuple(records)


def default_lr(optimizer: str) -> float:
    """The registry default lr of ``optimizer``."""
    from muonlab import optim

    return float(optim.hyperparameters(optimizer)["lr"])


def _matched(run: Any, lr: float, treatment: str) -> Any:
    hparams = tuple((k, lr if k == "lr" else v) for k, v in run.hparams)
    if "lr" not in dict(run.hparams):
        hparams = (*hparams, ("lr", lr))
    return replace(run, hparams=hparams, control="matched_step", matched_to=treatment)


def match_table(records: Sequence[MatchRecord]) -> tuple[tuple[str, ...], list[list[Any]]]:
    """Header and rows of ``matched_step.csv``."""
    header = ("cell", "treatment", "baseline", "target_update_rms", "lr", "achieved_update_rms", "ratio", "probes")
    rows = [[r.cell, r.treatment, r.baseline, r.target_update_rms, r.lr, r.achieved_update_rms, r.ratio, r.probes]
            for r in records]
    return header, rows


def control_columns(study: Any) -> tuple[str, ...]:
    """The ``summary.csv`` columns of a study with ``[controls]``: ``control``, and with
    matched-step runs ``matched_to`` and ``lr`` (unless ``lr`` is swept already)."""
    if study.controls is None:
        return ()
    if not study.controls.matched_step:
        return ("control",)
    return ("control", "matched_to", *(() if "lr" in study.swept_hparams() else ("lr",)))


def cell_name(settings: Mapping[str, Any], keys: Sequence[str]) -> str:
    """``fix_V=True kappa=10000.0`` from the swept ``keys`` of a run's settings ("all" if none)."""
    return " ".join(f"{k}={settings[k]}" for k in keys) or "all"


def resolve_matched_step(study: Any, execute_all: Callable[[Sequence[Any]], list[Any]]) -> tuple[Any, dict[str, Any], tuple[MatchRecord, ...]]:
    """``study`` with its matched-step runs added (``extra_runs``), the results computed
    while solving (by run id) and the solve records; unchanged without matched_step."""
    controls = study.controls
    if controls is None or not controls.matched_step:
        return study, {}, ()
    keys = study.swept_settings()
    print(f"muonlab: matched_step: measuring {', '.join(controls.matched_step)} and {controls.baseline}, "
          "then solving each matched lr", file=sys.stderr)
    matched, known, records = matched_step_runs(
        study.runs(), controls, execute_all, lambda run: cell_name(dict(run.settings), keys))
    return replace(study, extra_runs=matched), known, records


def match_rows(records: Sequence[MatchRecord]) -> list[dict[str, Any]]:
    """The rows of ``matched_step.csv`` as dicts (for ``manifest.json``)."""
    header, rows = match_table(records)
    return [dict(zip(header, row)) for row in rows]


# -- tuning ------------------------------------------------------------------------------

TUNING_KEYS = ("lr", "seeds", "rule")
# A rule "median_FIELD" minimises the median of summary field FIELD over an optimizer's
# tuning runs at one lr (all cells and tuning seeds): the training loss, or one of the
# problem's own finals (e.g. digits' held-out final_test_loss, the PINN's final_rel_l2).
TUNING_FIELDS = ("final_loss", "best_loss")


def tuning_rules(finals: Sequence[str]) -> tuple[str, ...]:
    """The allowed ``tuning.rule`` values for a problem with summary ``finals``."""
    return tuple(f"median_{name}" for name in (*TUNING_FIELDS, *finals))


@dataclass(frozen=True)
class Tuning:
    """A validated ``[tuning]`` table: per-optimizer lr grid, tuning seeds, rule."""

    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    rule: str


def parse_tuning(value: Any, eval_seeds: Sequence[int], finals: Sequence[str] = ()) -> Tuning | None:
    """Validate ``[tuning]``; its seeds must be disjoint from the evaluation seeds, its
    rule one of :func:`tuning_rules` for the problem's ``finals``."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"tuning: expected a table, got {type_name(value)} {value!r}")
    for key in value:
        if key not in TUNING_KEYS:
            raise ConfigError(f"tuning.{key}: unknown key; allowed: {', '.join(TUNING_KEYS)}")
    grid = value.get("lr")
    if not isinstance(grid, list) or len(grid) < 2 or len(set(grid)) != len(grid) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0 for v in grid):
        raise ConfigError(f"tuning.lr: expected a list of at least 2 distinct numbers > 0, got {grid!r}")
    seeds = value.get("seeds")
    if not isinstance(seeds, list) or not seeds or len(set(seeds)) != len(seeds) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"tuning.seeds: expected a list of distinct ints >= 0, got {seeds!r}")
    shared = sorted(set(seeds) & set(eval_seeds))
    if shared:
        raise ConfigError(f"tuning.seeds: must be disjoint from the evaluation seeds; shared: {shared}")
    rule = value.get("rule")
    rules = tuning_rules(finals)
    if rule not in rules:
        raise ConfigError(f"tuning.rule: must be one of {', '.join(rules)}, got {rule!r}")
    return Tuning(tuple(float(v) for v in grid), tuple(seeds), rule)


def resolve_tuning(study: Any, execute_all: Callable[[Sequence[Any]], list[Any]]) -> tuple[Any, list[list[Any]]]:
    """Run every optimizer at every tuning lr on the tuning seeds, select per optimizer
    the lr the rule prefers, and return the study with each optimizer's lr set to it
    (evaluated on the study's own seeds) and the rows of ``tuning.csv``."""
    tuning = study.tuning
    if tuning is None:
        return study, []
    print(f"muonlab: tuning: {len(tuning.lrs)} lrs x {len(tuning.seeds)} tuning seeds per optimizer, "
          f"rule {tuning.rule}", file=sys.stderr)
    # Diagnostics observe without changing a trajectory (SPEC 4), so the tuning runs skip
    # them: the rule's metric is the same, at a fraction of the cost.
    grid_study = replace(study, tuning=None, controls=None, seeds=tuning.seeds, diagnostics=DiagnosticsSpec(),
                         optimizers=tuple(replace(o, grid=with_lr(o.grid, tuning.lrs)) for o in study.optimizers))
    runs = grid_study.runs()
    results = execute_all(runs)
    field_name = tuning.rule.removeprefix("median_")
    rows: list[list[Any]] = []
    chosen: dict[str, float] = {}
    for spec in study.optimizers:
        scores = {}
        for lr in tuning.lrs:
            values = np.asarray([r.summary.get(field_name, math.nan) if r.status == "done" else math.nan
                                 for c, r in zip(runs, results) if c.label == spec.label
                                 and dict(c.hparams)["lr"] == lr], dtype=np.float64)
            finite = values[np.isfinite(values)]
            # A diverged or failed run counts as +inf: an lr that breaks a seed is not chosen over one that does not.
            scores[lr] = float(np.median(np.where(np.isfinite(values), values, np.inf))) if finite.size else math.inf
        chosen[spec.label] = min(tuning.lrs, key=lambda lr: (scores[lr], lr))
        rows += [[spec.label, lr, len(tuning.seeds), tuning.rule, scores[lr], lr == chosen[spec.label]]
                 for lr in tuning.lrs]
    tuned = replace(study, optimizers=tuple(replace(o, grid=with_lr(o.grid, (chosen[o.label],)))
                                            for o in study.optimizers))
    return tuned, rows


TUNING_HEADER = ("optimizer", "lr", "tuning_seeds", "rule", "score", "selected")
