"""The claim file (``claims/*.toml``, SPEC 11): a typed, validated paper claim.

A claim names a study file (and its quick variant), the labels it compares, the metric,
and the kind of test. Every key is checked once, here, against the study it names:
an invalid file raises :class:`ClaimError` with one line naming the key and the allowed
values (the CLI turns it into exit code 2).

Keys (``[*]`` = required)::

    id [*]           short name, [a-z0-9-]+, unique in the directory
    source [*]       paper, table or figure ("TrasMuon Table 4")
    statement [*]    one sentence
    study [*]        study file name in studies/ (full protocol)
    quick_study [*]  study file name in studies/ (the --quick variant; same labels)
    kind             paired (default) | equivalence | noninferiority | interaction |
                     one_sample | cost
    treatment [*]    optimizer label of the study
    control          label, or array of labels (every one must be beaten: intersection-
                     union test); not for one_sample
    metric [*]       a summary.csv column ("final_loss", "spike_count", ...), or
                     "steps.median.COL" / "steps.mean.COL" (per-run aggregate of a logged
                     column, e.g. "steps.median.r_dom"), or "spread.COL" (per seed, the
                     log10 range of COL over the label's runs: its lr / eta_max grid);
                     kind cost: "step_time"
    scale            ratio | difference: how treatment and control pair per seed (default:
                     difference for counts, ratio otherwise, as `muonlab compare`; use
                     difference for a metric that can be 0, where a ratio is undefined)
    direction        lower (default) | higher: the claimed sign of treatment vs control
    min_effect       >= 0 (default 0): how far beyond "no effect" the CI must lie
                     (relative for ratio metrics, absolute for count metrics)
    margin           > 0: equivalence band / non-inferiority margin (same units)
    reference        one_sample: the constant compared with (e.g. r_avg vs 1)
    where            table selecting the runs: problem settings ({fix_V = true}) and, in a
                     study with [controls], control ("none" (default) | "no_injection" |
                     "matched_step") and matched_to (a label)
    control_where    extra selection for the control label's runs (e.g. {control =
                     "matched_step", matched_to = "TrasMuon-Clip-sf"})
    control_metric   metric of the control series (default: metric); with control =
                     treatment it compares two metrics of the same runs
    interaction      {setting, stronger, weaker}: the effect under setting=stronger lies
                     further in ``direction`` than under setting=weaker
    shapes           cost: array of [rows, cols] matrix shapes timed
    repeats          cost: timed repetitions (default 9)
    controls         array of claim ids whose verdict must agree
    expect           verdict this claim must reach when used as a control (default supported)
    role             claim (default) | control
    plots            study plot files (in DIR/plots/) shown with the claim
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muonlab.analysis.compare import metric_kind
from muonlab.runner import ConfigError, load_study_config
from muonlab.runner.closed_loop import COLUMN_METRICS
from muonlab.runner.config import StudyConfig
from muonlab.runner.controls import CONTROLS
from muonlab.runner.observers import DIAGNOSTICS
from muonlab.runner.outputs import SUMMARY_STATUS
from muonlab.runner.spikes import SPIKE_COLUMNS
from muonlab.tomlcompat import tomllib

KINDS = ("paired", "equivalence", "noninferiority", "interaction", "one_sample", "cost")
DIRECTIONS = ("lower", "higher")
VERDICTS = ("supported", "not supported", "inconclusive")
ROLES = ("claim", "control")
SCALES = ("ratio", "difference")
STEP_AGGREGATES = ("median", "mean", "event_mean", "placebo_mean")
# Columns the runner logs per step (SPEC 4): always (None), or when the named
# [diagnostics] entry is on (each plugin declares its columns).
STEP_COLUMNS = {
    "loss": None,
    **{column: name for name, plugin in DIAGNOSTICS.items() for column in plugin.columns},
    "update_rms": None, "c_used_min": None, "c_used_mean": None, "frac_clipped": None,
    "r_q95": None, "r_max": None,
    # TrasMuon with [injection]: the applied c of the injected / next / other columns
    **{column: None for column in COLUMN_METRICS},
}
COST_METRICS = ("step_time",)
KEYS = ("id", "source", "statement", "study", "quick_study", "kind", "treatment", "control", "metric",
        "scale", "direction", "min_effect", "margin", "reference", "where", "control_where", "control_metric", "interaction", "shapes", "repeats",
        "controls", "expect", "role", "plots")
REQUIRED = ("id", "source", "statement", "study", "quick_study", "treatment", "metric")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class ClaimError(ConfigError):
    """An invalid claim file or claims directory: one line naming the key."""


@dataclass(frozen=True)
class Interaction:
    """The effect under ``setting = stronger`` is further in the claimed direction than
    under ``setting = weaker`` (per seed, paired)."""

    setting: str
    stronger: Any
    weaker: Any


@dataclass(frozen=True)
class Claim:
    """One validated claim file (see the module docstring for the keys)."""

    id: str
    source: str
    statement: str
    study: Path
    quick_study: Path
    kind: str
    treatment: str
    controls_labels: tuple[str, ...]
    metric: str
    scale: str
    direction: str
    min_effect: float
    margin: float | None
    reference: float | None
    where: tuple[tuple[str, Any], ...]
    control_where: tuple[tuple[str, Any], ...]
    control_metric: str
    interaction: Interaction | None
    shapes: tuple[tuple[int, int], ...]
    repeats: int
    controls: tuple[str, ...]
    expect: str
    role: str
    plots: tuple[str, ...]
    path: Path = field(compare=False)

    def study_file(self, quick: bool) -> Path:
        return self.quick_study if quick else self.study


def _fail(path: Path, key: str, message: str) -> ClaimError:
    return ClaimError(f"{path}: {key}: {message}")


def _string(raw: dict[str, Any], key: str, path: Path, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, key, f"expected a non-empty string, got {value!r}")
    return value


def _choice(raw: dict[str, Any], key: str, choices: tuple[str, ...], default: str, path: Path) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise _fail(path, key, f"expected one of {', '.join(choices)}; got {value!r}")
    return value


def _number(raw: dict[str, Any], key: str, path: Path, *, default: float | None, positive: bool = False) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise _fail(path, key, f"expected a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise _fail(path, key, f"expected a number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def _study(raw: dict[str, Any], key: str, studies_dir: Path, path: Path) -> tuple[Path, StudyConfig]:
    name = _string(raw, key, path)
    available = sorted(p.name for p in studies_dir.glob("*.toml"))
    file = studies_dir / name
    if not file.is_file():
        raise _fail(path, key, f"unknown study {name!r}; allowed: files in {studies_dir}/ ({', '.join(available)})")
    try:
        return file, load_study_config(file)
    except ConfigError as exc:
        raise _fail(path, key, f"study {name!r} is invalid: {exc}") from None


def summary_columns(study: StudyConfig) -> tuple[str, ...]:
    """The result columns of the study's ``summary.csv`` (the runner's layout)."""
    return (*SUMMARY_STATUS[1:], *SPIKE_COLUMNS, *study.kind.finals)


def _check_metric(metric: str, kind: str, study: StudyConfig, path: Path, key: str = "metric") -> None:
    if kind == "cost":
        if metric not in COST_METRICS:
            raise _fail(path, key, f"unknown metric {metric!r} for kind cost; allowed: {', '.join(COST_METRICS)}")
        return
    columns = summary_columns(study)
    on = {name for name, _ in study.diagnostics.entries}
    step_columns = [c for c, needs in STEP_COLUMNS.items() if needs is None or needs in on]
    parts = metric.split(".")
    if len(parts) == 3 and parts[0] == "steps" and parts[1] in STEP_AGGREGATES and parts[2] in step_columns:
        return
    if len(parts) == 2 and parts[0] == "spread" and parts[1] in columns:
        return
    if len(parts) == 1 and metric in columns:
        return
    allowed = (f"a summary column ({', '.join(columns)}), spread.COLUMN, or "
               f"steps.{{{'|'.join(STEP_AGGREGATES)}}}.COLUMN with COLUMN in {', '.join(step_columns)}")
    raise _fail(path, key, f"unknown metric {metric!r} for study {study.name!r}; allowed: {allowed}")


def _check_labels(labels: tuple[str, ...], key: str, study: StudyConfig, origin: str, path: Path) -> None:
    known = [spec.label for spec in study.optimizers]
    for label in labels:
        if label not in known:
            raise _fail(path, key, f"unknown label {label!r} in {origin}; allowed: {', '.join(known)}")


def _settings_value(study: StudyConfig, setting: str, value: Any, key: str, path: Path) -> None:
    grid = dict(study.problem_grid)
    if study.controls is not None:
        grid["control"] = CONTROLS
        grid["matched_to"] = ("", *(spec.label for spec in study.optimizers))
    if setting not in grid:
        raise _fail(path, key, f"unknown problem setting {setting!r}; allowed: {', '.join(grid) or 'none'}")
    if value not in grid[setting] or isinstance(value, bool) != isinstance(grid[setting][0], bool):
        shown = ", ".join(repr(v) for v in grid[setting])
        raise _fail(path, key, f"{setting} = {value!r} is not in the study's grid; allowed: {shown}")


def parse_claim(raw: dict[str, Any], path: Path, studies_dir: Path) -> Claim:
    """Validate the TOML table ``raw`` of the claim file ``path``."""
    for key in raw:
        if key not in KEYS:
            raise _fail(path, key, f"unknown key; allowed: {', '.join(KEYS)}")
    for key in REQUIRED:
        if key not in raw:
            raise _fail(path, key, "missing (required)")
    claim_id = _string(raw, "id", path)
    if not ID_PATTERN.match(claim_id):
        raise _fail(path, "id", f"expected lower-case letters, digits and '-', got {claim_id!r}")
    kind = _choice(raw, "kind", KINDS, "paired", path)
    direction = _choice(raw, "direction", DIRECTIONS, "lower", path)
    role = _choice(raw, "role", ROLES, "claim", path)
    expect = _choice(raw, "expect", VERDICTS, "supported", path)
    study_path, study = _study(raw, "study", studies_dir, path)
    quick_path, quick = _study(raw, "quick_study", studies_dir, path)
    treatment = _string(raw, "treatment", path)
    control = raw.get("control", [])
    control_labels = (control,) if isinstance(control, str) else control
    if not isinstance(control_labels, list | tuple) or not all(isinstance(c, str) for c in control_labels):
        raise _fail(path, "control", f"expected a label or an array of labels, got {control!r}")
    if kind == "one_sample" and control_labels:
        raise _fail(path, "control", "not allowed for kind one_sample (it compares with reference)")
    if kind != "one_sample" and not control_labels:
        raise _fail(path, "control", f"missing (required for kind {kind})")
    metric = _string(raw, "metric", path)
    default_scale = "ratio" if kind == "cost" or metric.startswith("spread.") else metric_kind(metric)
    scale = _choice(raw, "scale", SCALES, default_scale, path)
    control_metric = _string(raw, "control_metric", path, default=metric)
    for config, origin in ((study, "study"), (quick, "quick_study")):
        _check_labels((treatment,), "treatment", config, raw[origin], path)
        _check_labels(tuple(control_labels), "control", config, raw[origin], path)
        _check_metric(metric, kind, config, path)
        _check_metric(control_metric, kind, config, path, key="control_metric")
    margin = _number(raw, "margin", path, default=None, positive=True)
    if kind in ("equivalence", "noninferiority") and margin is None:
        raise _fail(path, "margin", f"missing (required for kind {kind})")
    reference = raw.get("reference")
    if kind == "one_sample":
        if isinstance(reference, bool) or not isinstance(reference, (int, float)) or not reference > 0:
            raise _fail(path, "reference", f"expected a number > 0 (required for kind one_sample), got {reference!r}")
        reference = float(reference)
    elif reference is not None:
        raise _fail(path, "reference", "only for kind one_sample")
    selections = {}
    for key in ("where", "control_where"):
        table = raw.get(key, {})
        if not isinstance(table, dict):
            raise _fail(path, key, f"expected a table of problem settings, got {table!r}")
        for config in (study, quick):
            for setting, value in table.items():
                _settings_value(config, setting, value, f"{key}.{setting}", path)
        selections[key] = tuple(sorted(table.items()))
    interaction = None
    if kind == "interaction":
        table = raw.get("interaction")
        if not isinstance(table, dict) or set(table) != {"setting", "stronger", "weaker"}:
            raise _fail(path, "interaction", "expected a table with keys setting, stronger, weaker")
        interaction = Interaction(table["setting"], table["stronger"], table["weaker"])
        for config in (study, quick):
            for end in ("stronger", "weaker"):
                _settings_value(config, interaction.setting, table[end], f"interaction.{end}", path)
    elif "interaction" in raw:
        raise _fail(path, "interaction", "only for kind interaction")
    shapes = raw.get("shapes", [])
    if kind == "cost":
        ok = isinstance(shapes, list) and shapes and all(
            isinstance(s, list) and len(s) == 2 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in s)
            for s in shapes)
        if not ok:
            raise _fail(path, "shapes", f"expected a non-empty array of [rows, cols] integer pairs >= 1, got {shapes!r}")
    repeats = raw.get("repeats", 9)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 3:
        raise _fail(path, "repeats", f"expected an integer >= 3, got {repeats!r}")
    controls = raw.get("controls", [])
    plots = raw.get("plots", [])
    for key, value in (("controls", controls), ("plots", plots)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _fail(path, key, f"expected an array of strings, got {value!r}")
    return Claim(
        id=claim_id, source=_string(raw, "source", path), statement=_string(raw, "statement", path),
        study=study_path, quick_study=quick_path, kind=kind, treatment=treatment,
        controls_labels=tuple(control_labels), metric=metric, scale=scale, direction=direction,
        min_effect=_number(raw, "min_effect", path, default=0.0) or 0.0, margin=margin, reference=reference,
        where=selections["where"], control_where=selections["control_where"], control_metric=control_metric,
        interaction=interaction,
        shapes=tuple(tuple(s) for s in shapes), repeats=repeats, controls=tuple(controls), expect=expect,
        role=role, plots=tuple(plots), path=path,
    )


def load_claim(path: str | Path, studies_dir: str | Path) -> Claim:
    """Read and validate one claim file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ClaimError(f"{path}: no such claim file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ClaimError(f"{path}: invalid TOML: {exc}") from None
    return parse_claim(raw, path, Path(studies_dir))


def load_claims(claims_dir: str | Path, studies_dir: str | Path) -> tuple[Claim, ...]:
    """Every ``*.toml`` of ``claims_dir`` (sorted by file name), ids unique and every
    ``controls`` entry naming a claim of the directory."""
    claims_dir = Path(claims_dir)
    files = sorted(claims_dir.glob("*.toml"))
    if not files:
        raise ClaimError(f"{claims_dir}: no claim files (*.toml)")
    claims = tuple(load_claim(f, studies_dir) for f in files)
    ids: dict[str, Path] = {}
    for claim in claims:
        if claim.id in ids:
            raise _fail(claim.path, "id", f"{claim.id!r} is also the id of {ids[claim.id]}")
        ids[claim.id] = claim.path
    for claim in claims:
        for control in claim.controls:
            if control not in ids or control == claim.id:
                raise _fail(claim.path, "controls", f"unknown claim id {control!r}; allowed: "
                            f"{', '.join(i for i in ids if i != claim.id)}")
    return claims
