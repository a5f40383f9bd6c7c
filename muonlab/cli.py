"""``muonlab run | table | compare | plot | list | validate`` (SPEC 5).

User errors (bad study file, bad option, unusable output directory) print one line
``muonlab: error: ...`` on stderr and return exit code 2, with nothing written.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from muonlab.analysis.load import StudyLoadError
from muonlab.runner import BACKENDS, PROBLEMS, ConfigError, load_study_config, make_backend, run_study
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
    run.add_argument("study", type=Path, help="study TOML file (see docs/studies.md)")
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
    validate.add_argument("study", type=Path, help="study TOML file")
    _add_claims_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``muonlab`` command; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, StudyLoadError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of our stdout went away (`muonlab list | head`): not an error of
        # ours; point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _cmd_run(args: argparse.Namespace) -> int:
    study = load_study_config(args.study, device=args.device)
    backend = make_backend(args.backend, workers=args.workers, scheduler=args.scheduler, retries=args.retries)
    report = run_study(study, args.out, backend=backend, resume=args.resume, progress=not args.no_progress)
    counts = ", ".join(f"{n} {status}" for status, n in report.statuses.items() if n)
    skipped = f" ({report.skipped} already finished)" if report.skipped else ""
    print(f"{report.total} runs{skipped}: {counts or 'nothing to run'}")
    _report(report.out)
    print(f"results: {report.out}/ (summary.csv, runs/, events.csv, manifest.json, table.md, plots/)")
    return 0


def _report(out: Path) -> None:
    """Write the default table (printed) and the standard plots of a finished study."""
    from muonlab.analysis import load_study, plot_study, write_table

    study = load_study(out)
    print(write_table(study).markdown, end="")
    plot_study(study)


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def _cmd_table(args: argparse.Namespace) -> int:
    from muonlab.analysis import load_study, write_table

    study = load_study(args.dir)
    result = write_table(study, metric=_split(args.metric), by=_split(args.by))
    print(result.markdown, end="")
    print(f"written: {args.dir / 'table.md'}, {args.dir / 'table.csv'}")
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
    print("problems (setting=default: allowed):")
    for kind in PROBLEMS.values():
        print(f"  {kind.name}: {kind.description}; default steps {kind.default_steps}")
        for s in kind.settings:
            print(f"      {s.name}={_show(s.default)}: {s.kind.__name__} {s.allowed}  {s.help}")
    for title, settings in (("[injection]", INJECTION_SETTINGS), ("[spikes]", SPIKE_SETTINGS)):
        print(f"{title}:")
        for s in settings:
            print(f"      {s.name}={_show(s.default)}: {s.kind.__name__} {s.allowed}  {s.help}")
    _list_diagnostics()
    return 0


def _list_diagnostics() -> None:
    """The ``[diagnostics]`` keys (all off by default) and their settings' defaults."""
    from muonlab.runner import diagnostics_settings as ds

    settings = {"dom_bulk": ds.DOM_BULK_SETTINGS, "gram": ds.GRAM_SETTINGS, "spectrum": ds.SPECTRUM_SETTINGS}
    print("[diagnostics] (off by default; an entry is true for its defaults or a table of settings):")
    for key, description in ds.DIAGNOSTICS.items():
        print(f"  {key}: {description}")
        for s in settings.get(key, ()):
            print(f"      {s.name}={_show(s.default)}: {s.kind.__name__} {s.allowed}  {s.help}")
        if key == "dom_bulk":
            vectors = ", ".join(f'"{v}"' for v in ds.DomBulkSpec().vectors)
            print(f"      vectors=[{vectors}]: non-empty array of distinct names from {', '.join(ds.VECTORS)}")


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    return str(value).replace("torch.", "")


def _cmd_validate(args: argparse.Namespace) -> int:
    study = load_study_config(args.study)
    runs = study.runs()
    print(
        f"{args.study}: ok: {len(runs)} runs ({len(study.optimizers)} optimizer entries, "
        f"{len(study.seeds)} seeds, {study.steps} steps, problem {study.problem})"
    )
    return 0


def _add_claims_parser(commands: argparse._SubParsersAction) -> None:
    claims = commands.add_parser("claims", help="run the paper claims' studies and judge each claim (docs/claims.md)")
    claims.add_argument("--quick", action="store_true", help="the quick studies (fewer seeds and steps; the report says so)")
    claims.add_argument("--only", default=None, metavar="ID", help="one claim (and the controls it names)")
    claims.add_argument("--out", type=Path, default=None, help="output directory (default results/claims or results/claims_quick)")
    claims.add_argument("--claims-dir", type=Path, default=Path("claims"), help="directory of claim files (default claims/)")
    claims.add_argument("--studies-dir", type=Path, default=Path("studies"), help="directory of the study files claims name (default studies/)")
    claims.add_argument("--backend", choices=BACKENDS, default="local", help="where runs execute (default local)")
    claims.add_argument("--workers", type=_int_at_least(1), default=1, help="worker processes (default 1)")
    claims.add_argument("--scheduler", default=None, metavar="ADDRESS", help="dask: address of an existing cluster's scheduler")
    claims.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="override the studies' device")


def _cmd_claims(args: argparse.Namespace) -> int:
    from muonlab.claims import load_claims
    from muonlab.claims.run import run_claims, select_claims

    claims = select_claims(load_claims(args.claims_dir, args.studies_dir), args.only)
    out = args.out or Path("results") / ("claims_quick" if args.quick else "claims")
    backend = make_backend(args.backend, workers=args.workers, scheduler=args.scheduler, retries=DEFAULT_RETRIES)
    outcome = run_claims(claims, out, quick=args.quick, backend=backend, device=args.device)
    for result in outcome.results:
        print(f"{result.claim.id}: {result.verdict}")
    print(f"{len(outcome.results)} claims in {outcome.seconds:.0f} s; written: " + ", ".join(str(p) for p in outcome.paths))
    return 0


COMMANDS = {"claims": _cmd_claims, "run": _cmd_run, "table": _cmd_table, "compare": _cmd_compare, "plot": _cmd_plot, "list": _cmd_list, "validate": _cmd_validate}
