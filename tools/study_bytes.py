"""Byte-identity check for refactors (issue 12): run a shortened copy of every study in
``studies/`` and compare all output files (``manifest.json`` excepted: it holds times
and hosts) with the same run made on another commit.

    python tools/study_bytes.py run  CHECKOUT OUTROOT [STUDY ...]   # uses CHECKOUT/.venv
    python tools/study_bytes.py diff OUTROOT_A OUTROOT_B             # exit 1 on any difference

Typical use: ``run`` on a checkout of main into /tmp/before, ``run`` on the changed
checkout into /tmp/after, then ``diff /tmp/before /tmp/after``. Runs use
``OMP_NUM_THREADS=1`` (bytes depend on the thread count); all 25 studies take ~15 min
on 2 idle cores.

Shortening (every other key is kept as written: controls, tuning, diagnostics,
batch_seeds): seeds <= 3, steps <= 120; helmholtz t0 <= 60, eval_every <= 30; gpt
steps <= 30, seeds <= 2, eval_every <= 10, injection t_start and K_out <= 10 (so that
events occur in the short run). A study is written back as TOML by :func:`dump`, which
covers the value types study files use (tomllib reads, the standard library has no
writer).
"""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

CAPS = {"helmholtz": {"steps": 120, "t0": 60, "eval_every": 30}, "gpt": {"steps": 30, "seeds": 2, "eval_every": 10}}
DEFAULT_CAPS = {"steps": 120, "seeds": 3}


def toml_value(value: Any) -> str:
    """``value`` as a TOML literal (bool, str, number, array, inline table)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def dump(study: dict[str, Any]) -> str:
    """A study mapping as TOML: top-level keys, then tables, then arrays of tables."""
    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and isinstance(v[0], dict)

    lines = [f"{k} = {toml_value(v)}" for k, v in study.items() if not isinstance(v, dict) and not is_table_array(v)]
    for key, value in study.items():
        if isinstance(value, dict):
            lines += [f"\n[{key}]"] + [f"{k} = {toml_value(v)}" for k, v in value.items()]
        elif is_table_array(value):
            for item in value:
                lines += [f"\n[[{key}]]"] + [f"{k} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _cap(value: Any, limit: int) -> Any:
    """``value`` capped at ``limit`` (a list of seeds keeps its first ``limit``)."""
    return value[:limit] if isinstance(value, list) else min(value, limit)


def shorten(study: dict[str, Any]) -> dict[str, Any]:
    """The shortened copy of ``study`` (see the module docstring)."""
    short = dict(study)
    problem = dict(short["problem"])
    caps = {**DEFAULT_CAPS, **CAPS.get(problem["name"], {})}
    short["seeds"] = _cap(short.get("seeds", caps["seeds"]), caps["seeds"])
    short["steps"] = _cap(short.get("steps", caps["steps"]), caps["steps"])
    for key in ("t0", "eval_every"):
        if key in caps and key in problem:
            problem[key] = _cap(problem[key], caps[key])
    short["problem"] = problem
    if problem["name"] == "gpt" and "injection" in short:
        short["injection"] = {k: _cap(v, 10) if k in ("t_start", "K_out") else v for k, v in short["injection"].items()}
    return short


def run(checkout: Path, outroot: Path, names: list[str]) -> None:
    """Run the shortened copy of each study of ``checkout`` (or only ``names``)."""
    outroot.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    for path in sorted((checkout / "studies").glob("*.toml")):
        if names and path.stem not in names:
            continue
        study_file = outroot / f"{path.stem}.toml"
        study_file.write_text(dump(shorten(tomllib.loads(path.read_text()))))
        out = outroot / path.stem
        shutil.rmtree(out, ignore_errors=True)
        start = time.time()
        done = subprocess.run([str(checkout / ".venv/bin/muonlab"), "run", str(study_file), "--out", str(out), "--no-progress"],
                              env=env, capture_output=True, text=True)
        error = done.stderr.strip().splitlines()[-1] if done.returncode and done.stderr.strip() else ""
        print(f"{path.stem}: rc={done.returncode} {time.time() - start:.0f}s {error}", flush=True)


def diff(a: Path, b: Path) -> int:
    """Print, per study, whether ``a`` and ``b`` hold identical files; 1 if any differ."""
    bad = 0
    for study_a in sorted(p for p in a.iterdir() if p.is_dir()):
        study_b = b / study_a.name
        if not study_b.exists():
            print(f"{study_a.name}: missing in {b}")
            bad += 1
            continue
        files_a = {p.relative_to(study_a) for p in study_a.rglob("*") if p.is_file()}
        files_b = {p.relative_to(study_b) for p in study_b.rglob("*") if p.is_file()}
        differ = sorted(str(p) for p in files_a & files_b
                        if p.name != "manifest.json" and not filecmp.cmp(study_a / p, study_b / p, shallow=False))
        one_side = sorted(str(p) for p in files_a ^ files_b)
        same = not differ and not one_side
        bad += not same
        print(f"{study_a.name}: " + ("identical" if same else f"DIFFER {differ[:6]} only on one side {one_side[:6]}"))
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "run":
        run(Path(argv[1]), Path(argv[2]), argv[3:])
        return 0
    if len(argv) == 3 and argv[0] == "diff":
        return diff(Path(argv[1]), Path(argv[2]))
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
