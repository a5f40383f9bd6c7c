"""``muonlab run | table | compare | plot | list | validate | studies | init`` (SPEC 5).

Exit codes: 0 success; 1 a study none of whose runs finished (every run ``failed``);
2 a user error (bad study file, bad option, unusable output directory, a table of a
non-numeric column): one line ``muonlab: error: ...`` on stderr, nothing written;
130 interrupted (Ctrl-C): one line saying how many runs finished and how to resume.
``muonlab`` with no arguments prints the usage (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from muonlab import catalog
from muonlab.analysis.load import StudyLoadError
from muonlab.runner import BACKENDS, ConfigError, load_study_config, make_backend, run_study
from muonlab.runner.backends import DEFAULT_RETRIES

PROG = "muonlab"


class UsageError(Exception):
    """A command-line mistake reported by argparse."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Controlled studies of Muon-family optimizers.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run a study file into a directory")
    run.add_argument("study", type=Path, help="study TOML file (see docs/studies.md) or the name of a shipped study (muonlab studies)")
    run.add_argument("--out", type=Path, required=True, help="output directory (created)")
    run.add_argument("--backend", choices=BACKENDS, default="local", help="where runs execute (default local)")
    run.add_argument("--workers", type=_int_at_least(1), default=1, help="worker processes (default 1: in-process; dask: LocalCluster workers)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS", help="dask: address of an existing cluster's scheduler, e.g. tcp://host:8786 (docs/scale-out.md)")
    run.add_argument("--retries", type=_int_at_least(0), default=DEFAULT_RETRIES, help=f"times a run whose worker process died is tried again (default {DEFAULT_RETRIES})")
    run.add_argument("--resume", action="store_true", help="continue an existing output directory, skipping finished runs")
    run.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="override the study's device")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")

    table = commands.add_parser("table", help="median (IQR) table of a study directory")
    table.add_argument("dir", type=Path, help="study output directory")
    table.add_argument("--metric", default=None, help="summary column(s), comma-separated (default: spike_count,final_loss with events, else final_loss)")
    table.add_argument("--by", default=None, help="grouping columns, comma-separated (default: swept settings, optimizer, swept hyperparameters)")
    table.add_argument("--write", action="store_true", help="also write table.md and table.csv into DIR (default: print only)")
    table.add_argument("--out", type=Path, default=None, metavar="OUTDIR", help="also write table.md and table.csv into OUTDIR (created)")

    compare = commands.add_parser("compare", help="paired per-seed comparison of every arm with a baseline")
    compare.add_argument("dir", type=Path, help="study output directory")
    compare.add_argument("--baseline", required=True, help="optimizer label to compare against")
    compare.add_argument("--metric", default="final_loss", help="summary column (default final_loss; counts give differences)")
    compare.add_argument("--by", default=None, help="grouping columns, comma-separated (default: swept settings, control)")
    compare.add_argument("--out", type=Path, default=None, help="directory for compare.md/compare.csv (default DIR)")

    plot = commands.add_parser("plot", help="standard plots of a study directory into DIR/plots/")
    plot.add_argument("dir", type=Path, help="study output directory")
    plot.add_argument("--out", type=Path, default=None, metavar="PLOTDIR", help="write the PNGs here instead of DIR/plots/ (e.g. for a read-only DIR)")

    commands.add_parser("list", help="optimizers, problems and their settings with defaults")

    validate = commands.add_parser("validate", help="check a study file without running it")
    validate.add_argument("study", type=Path, help="study TOML file or shipped study name")
    _add_catalog_commands(commands)
    _add_claims_parser(commands)
    return parser


def _add_catalog_commands(commands: argparse._SubParsersAction) -> None:
    commands.add_parser("studies", help="the shipped study files, by name, with a one-line description")
    init = commands.add_parser("init", help="copy a shipped study to edit")
    init.add_argument("name", help="shipped study name (muonlab studies)")
    init.add_argument("path", type=Path, nargs="?", default=None, help="file or directory to write (default: ./NAME.toml)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``muonlab`` command; returns the exit code."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv:
        parser.print_usage(sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, StudyLoadError, catalog.CatalogError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our stdout went away (`muonlab list | head`): not an error of
        # ours; point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _cmd_run(args: argparse.Namespace) -> int:
    study = load_study_config(catalog.resolve(args.study), device=args.device)
    backend = make_backend(args.backend, workers=args.workers, scheduler=args.scheduler, retries=args.retries)
    try:
        report = run_study(study, args.out, backend=backend, resume=args.resume, progress=not args.no_progress)
    except KeyboardInterrupt:
        return _interrupted(args)
    counts = ", ".join(f"{n} {status}" for status, n in report.statuses.items() if n)
    skipped = f" ({report.skipped} already finished)" if report.skipped else ""
    print(f"{report.total} runs{skipped}: {counts or 'nothing to run'}")
    if report.total and report.skipped + report.statuses["done"] + report.statuses["diverged"] == 0:
        print(f"{PROG}: error: every run failed ({report.total} of {report.total}); first error: "
              f"{_first_error(report.out)} (errors of all runs: {report.out / 'manifest.json'})", file=sys.stderr)
        return 1
    _report(report.out)
    print(f"results: {report.out}/ (summary.csv, runs/, events.csv, manifest.json, table.md, plots/)")
    return 0


def _first_error(out: Path) -> str:
    runs = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["runs"]
    return next((e["error"] for e in runs if e.get("error")), "unknown")


def _interrupted(args: argparse.Namespace) -> int:
    """Ctrl-C during ``run``: one line (what finished, the command that resumes); 130."""
    manifest = args.out / "manifest.json"
    finished = total = 0
    if manifest.is_file():
        data = json.loads(manifest.read_text(encoding="utf-8"))
        finished = sum(1 for e in data.get("runs", []) if e["status"] in ("done", "diverged"))
        total = data.get("total_runs", 0)
    command = ["muonlab", "run", str(args.study), "--out", str(args.out), "--resume"]
    command += [f"--{k.replace('_', '-')}={v}" for k, v in (("backend", args.backend), ("workers", args.workers), ("device", args.device))
                if v is not None and (k, v) not in (("backend", "local"), ("workers", 1))]
    print(f"\n{PROG}: interrupted: {finished} of {total} runs finished and recorded in {args.out}; "
          f"continue with: {shlex.join(command)}", file=sys.stderr)
    return 130


def _report(out: Path) -> None:
    """Write the default table (printed) and the standard plots of a finished study."""
    from muonlab.analysis import load_study, plot_study, write_table

    study = load_study(out)
    print(write_table(study).markdown, end="")
    # Loss plots need a logged finite loss (every run may have diverged at step 1).
    if np.isfinite(study.steps["loss"].to_numpy(float)).any():
        plot_study(study)
    else:
        print("plots: none (no run logged a finite loss)")


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _cmd_table(args: argparse.Namespace) -> int:
    """Print the table; write ``table.md``/``table.csv`` only with ``--write`` (into the
    study directory) or ``--out`` (elsewhere)."""
    from muonlab.analysis import load_study, save_table, table

    study = load_study(args.dir)
    metric, by = _split(args.metric), _split(args.by)
    if args.out is None and not args.write:
        print(table(study, metric=metric, by=by).markdown, end="")
        return 0
    target = args.dir if args.out is None else args.out
    result = table(study, metric=metric, by=by)  # a bad --metric is reported before anything is written
    try:
        target.mkdir(parents=True, exist_ok=True)
        save_table(result, target)
    except OSError as exc:
        raise ConfigError(f"{'--out' if args.out is not None else '--write'}: cannot write the table into {target}: {exc.strerror or exc}") from None
    print(result.markdown, end="")
    print(f"written: {target / 'table.md'}, {target / 'table.csv'}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from muonlab.analysis.compare import write_compare

    result = write_compare(args.dir, args.baseline, args.metric, _split(args.by), out=args.out)
    print(result.markdown, end="")
    out = args.dir if args.out is None else args.out
    print(f"written: {out / 'compare.md'}, {out / 'compare.csv'}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from muonlab.analysis import load_study, save_figures, study_figures

    study = load_study(args.dir)
    out = args.dir / "plots" if args.out is None else args.out
    try:  # before drawing anything: an unwritable directory is a user error, not a traceback
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UsageError(f"cannot write plots into {out} ({exc.strerror}); choose a writable directory with --out PLOTDIR") from None
    for path in save_figures(study_figures(study), out):
        print(f"written: {path}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from muonlab import optim
    from muonlab.runner import INJECTION_SETTINGS, SPIKE_SETTINGS
    from muonlab.runner.config import RUNNER_HPARAMS

    print("optimizers (hyperparameter=default):")
    for name in optim.OPTIMIZERS:
        hparams = optim.hyperparameters(name)
        shown = " ".join(f"{k}={_show(v)}" for k, v in hparams.items() if k not in RUNNER_HPARAMS)
        hook = "  [momentum hook]" if "momentum_hook" in hparams else ""
        print(f"  {name}{hook}\n      {shown}")
    _list_plugin_optimizers()
    print("problems (setting=default: allowed):")
    for kind in _problem_kinds():
        print(f"  {kind.name}: {kind.description}; default steps {kind.default_steps}")
        for s in kind.settings:
            print(f"      {s.name}={_show(s.default)}: {s.kind.__name__} {s.allowed}  {s.help}")
    for title, settings in (("[injection]", INJECTION_SETTINGS), ("[spikes]", SPIKE_SETTINGS)):
        print(f"{title}:")
        for s in settings:
            print(f"      {s.name}={_show(s.default)}: {s.kind.__name__} {s.allowed}  {s.help}")
    _list_diagnostics()
    return 0


def _list_plugin_optimizers() -> None:
    """Installed ``muonlab.optimizers`` entry points (any ``module:Class`` also works)."""
    from muonlab import optim
    from muonlab.optim.external import class_path, entry_point_optimizers

    print("plugin optimizers (muonlab.optimizers entry points; any module:Class also works):")
    for name in entry_point_optimizers():
        if name in optim.OPTIMIZERS:
            print(f"  {name}: shadowed by the built-in of that name")
            continue
        try:
            shown = " ".join(f"{k}={_show(v)}" for k, v in optim.hyperparameters(name).items())
            print(f"  {name}  [{class_path(optim.optimizer_class(name))}]\n      {shown}")
        except ValueError as exc:
            print(f"  {name}: not usable: {exc}")


def _problem_kinds() -> list:
    """Built-in problems, then installed ``muonlab.problems`` plugins (a broken one is
    shown with its error instead of failing the listing)."""
    from muonlab.runner import ProblemKind, problem_kind, problem_names

    kinds = []
    for name in problem_names():
        try:
            kinds.append(problem_kind(name))
        except ValueError as exc:
            kinds.append(ProblemKind(name, f"not usable: {exc}", None, 0, ()))
    return kinds


def _list_diagnostics() -> None:
    """The ``[diagnostics]`` registry: each key (all off by default) and its settings."""
    from muonlab.runner.observers import DIAGNOSTICS

    print("[diagnostics] (off by default; an entry is true for its defaults or a table of settings):")
    for key, plugin in DIAGNOSTICS.items():
        print(f"  {key}: {plugin.description}")
        for s in plugin.settings:
            print(f"      {s.name}={_show(s.default)}: {s.kind.__name__} {s.allowed}  {s.help}")


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):  # names (dom_bulk.vectors)
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return str(value).replace("torch.", "")


def _cmd_validate(args: argparse.Namespace) -> int:
    study = load_study_config(catalog.resolve(args.study))
    runs = study.runs()
    print(
        f"{args.study}: ok: {len(runs)} runs ({len(study.optimizers)} optimizer entries, "
        f"{len(study.seeds)} seeds, {study.steps} steps, problem {study.problem})"
    )
    return 0


def _cmd_studies(args: argparse.Namespace) -> int:
    shipped = catalog.entries("studies")
    if not shipped:
        print("no shipped studies found (a broken installation?)")
        return 1
    width = max(len(name) for name in shipped)
    for entry in shipped.values():
        print(f"{entry.name:<{width}}  {entry.description}")
    print("run one: muonlab run NAME --out DIR; copy one to edit: muonlab init NAME [PATH]")
    return 0


def _cmd_init(args: argparse.Namespace) -> int:
    target = catalog.copy_to(args.name, args.path)
    print(f"written: {target} (run it: muonlab run {target} --out DIR)")
    return 0


def _add_claims_parser(commands: argparse._SubParsersAction) -> None:
    claims = commands.add_parser("claims", help="run the paper claims' studies and judge each claim (docs/claims.md)")
    claims.add_argument("--quick", action="store_true", help="the quick studies (fewer seeds and steps; the report says so)")
    claims.add_argument("--only", default=None, metavar="ID", help="one claim (and the controls it names)")
    claims.add_argument("--out", type=Path, default=None, help="output directory (default results/claims or results/claims_quick)")
    claims.add_argument("--claims-dir", type=Path, default=None, help="directory of claim files (default: the shipped claims/)")
    claims.add_argument("--studies-dir", type=Path, default=None, help="directory of the study files claims name (default: the shipped studies/)")
    claims.add_argument("--backend", choices=BACKENDS, default="local", help="where runs execute (default local)")
    claims.add_argument("--workers", type=_int_at_least(1), default=1, help="worker processes (default 1)")
    claims.add_argument("--scheduler", default=None, metavar="ADDRESS", help="dask: address of an existing cluster's scheduler")
    claims.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="override the studies' device")


def _cmd_claims(args: argparse.Namespace) -> int:
    from muonlab.claims import load_claims
    from muonlab.claims.run import run_claims, select_claims

    claims_dir = args.claims_dir or catalog.data_dir("claims")
    studies_dir = args.studies_dir or catalog.data_dir("studies")
    if claims_dir is None or studies_dir is None:
        raise catalog.CatalogError("no shipped claims/ or studies/ found; give --claims-dir and --studies-dir")
    claims = select_claims(load_claims(claims_dir, studies_dir), args.only)
    out = args.out or Path("results") / ("claims_quick" if args.quick else "claims")
    backend = make_backend(args.backend, workers=args.workers, scheduler=args.scheduler, retries=DEFAULT_RETRIES)
    outcome = run_claims(claims, out, quick=args.quick, backend=backend, device=args.device)
    for result in outcome.results:
        print(f"{result.claim.id}: {result.verdict}")
    print(f"{len(outcome.results)} claims in {outcome.seconds:.0f} s; written: " + ", ".join(str(p) for p in outcome.paths))
    return 0


COMMANDS = {
    "run": _cmd_run, "table": _cmd_table, "compare": _cmd_compare, "plot": _cmd_plot, "list": _cmd_list, "validate": _cmd_validate,
    "studies": _cmd_studies, "init": _cmd_init, "claims": _cmd_claims,
}  # fmt: skip
