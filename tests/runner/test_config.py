"""Study validation (SPEC 5, 7): every bad input is one line naming the key, exit 2,
nothing written; grids expand as cartesian products; run ids are stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from muonlab.cli import main
from muonlab.runner import ConfigError, parse_study

BASE = """
seeds = 2
steps = 10
[problem]
name = "awbt"
d = 8
[[optimizers]]
name = "normuon"
"""

BAD = [
    # (study text, key path expected at the start of the message, a word of the allowed values)
    ("steps = 10\n[[optimizers]]\nname = 'muon'\n", "problem:", "awbt"),
    ("colour = 1\n" + BASE, "colour:", "allowed"),
    (BASE.replace("d = 8", "d = 8\nfoo = 1"), "problem.foo:", "kappa"),
    (BASE.replace("d = 8", "d = true"), "problem.d:", "int"),
    (BASE.replace("d = 8", "d = 8.5"), "problem.d:", "int"),
    (BASE.replace("d = 8", "kappa = []"), "problem.kappa:", "empty"),
    (BASE.replace("d = 8", "kappa = 0.5"), "problem.kappa:", ">= 1"),
    (BASE.replace("d = 8", "fix_V = [true, 1]"), "problem.fix_V[1]:", "true or false"),
    (BASE.replace('name = "awbt"', 'name = "mnist"'), "problem.name:", "river_valley"),
    (BASE.replace('name = "normuon"', 'name = "adam"'), "optimizers[0].name:", "trasmuon"),
    ("foo = 1\n" + BASE, "foo:", "allowed"),
    (BASE.replace('name = "normuon"', 'name = "normuon"\nfoo = 1'), "optimizers[0].foo:", "rms_scale"),
    (BASE.replace('name = "normuon"', 'name = "normuon"\nlr = -1.0'), "optimizers[0].lr:", "lr"),
    (BASE.replace('name = "normuon"', 'name = "normuon"\nlr = []'), "optimizers[0].lr:", "empty"),
    (BASE.replace('name = "normuon"', 'name = "normuon"\nnesterov = 1'), "optimizers[0].nesterov:", "True or False"),
    (BASE.replace('name = "normuon"', 'name = "normuon"\nbatched = true'), "optimizers[0].batched:", "batch_seeds"),
    (BASE.replace("steps = 10", "steps = -5"), "steps:", ">= 1"),
    (BASE.replace("steps = 10", "steps = true"), "steps:", "int"),
    (BASE.replace("seeds = 2", "seeds = [0, -1]"), "seeds[1]:", ">= 0"),
    (BASE.replace("seeds = 2", "seeds = -3"), "seeds:", ">= 1"),
    (BASE.replace("seeds = 2", "seeds = []"), "seeds:", "empty"),
    (BASE + "[injection]\ns = 9\n", "injection.s:", "<= the problem's 8 columns"),
    (BASE + "[injection]\na = 0.0\n", "injection.a:", "> 0"),
    (BASE + "[injection]\nsite = 'weights'\n", "injection.site:", "momentum"),
    (BASE.replace('name = "normuon"', 'name = "adamw"') + "[injection]\n", "optimizers[0].name:", "gradient"),
    (BASE + "[spikes]\nrho = 0.5\n", "spikes.rho:", "> 1"),
    (BASE.replace("steps = 10", "device = 'tpu'"), "device:", "cuda"),
    (BASE + "[[optimizers]]\nname = 'normuon'\nlabel = 'other'\n", "optimizers:", "identical"),
    ("[problem]\nname = 'awbt'\n", "optimizers:", "at least one"),
    ("optimizers = []\nproblem = 'awbt'\n", "optimizers:", "at least one"),
    ("steps = [\n", "", "invalid TOML"),
]


@pytest.mark.parametrize("text, path, allowed", BAD)
def test_bad_study_is_one_line_exit_2_nothing_written(tmp_path: Path, capsys, text: str, path: str, allowed: str) -> None:
    study = tmp_path / "bad.toml"
    study.write_text(text)
    out = tmp_path / "out"
    code = main(["run", str(study), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("muonlab: error: ")
    message = lines[0][len("muonlab: error: ") :]
    assert message.startswith(path) if path else True, message
    assert allowed in message, message
    assert "Traceback" not in captured.err
    assert not out.exists()
    assert main(["validate", str(study)]) == 2


def test_output_path_is_a_file(tmp_path: Path, capsys, tiny_study: Path) -> None:
    out = tmp_path / "file.txt"
    out.write_text("x")
    assert main(["run", str(tiny_study), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "is a file" in err[0]
    assert out.read_text() == "x"


def test_existing_output_dir_needs_resume(tmp_path: Path, capsys, tiny_study: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["run", str(tiny_study), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0]
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_bad_command_line_is_one_line(capsys) -> None:
    assert main(["run", "x.toml", "--out", "o", "--workers", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("muonlab: error: ") and "--workers" in err[0]


def test_grid_expansion_is_cartesian_in_study_order() -> None:
    study = parse_study(
        """
        seeds = [3, 5]
        [problem]
        name = "awbt"
        d = 8
        kappa = [1e2, 1e4, 1e6]
        fix_V = [true, false]
        [[optimizers]]
        name = "normuon"
        lr = [1e-3, 3e-3]
        [[optimizers]]
        name = "trasmuon"
        """
    )
    runs = study.runs()
    assert len(runs) == 3 * 2 * (2 + 1) * 2
    assert study.swept_settings() == ("kappa", "fix_V")
    assert study.swept_hparams() == ("lr",)
    first = runs[:6]
    assert [(dict(r.settings)["kappa"], dict(r.settings)["fix_V"]) for r in first] == [(100.0, True)] * 6
    assert [(r.optimizer, dict(r.hparams).get("lr"), r.seed) for r in first] == [
        ("normuon", 1e-3, 3), ("normuon", 1e-3, 5), ("normuon", 3e-3, 3),
        ("normuon", 3e-3, 5), ("trasmuon", None, 3), ("trasmuon", None, 5),
    ]  # fmt: skip
    combos = {(dict(r.settings)["kappa"], dict(r.settings)["fix_V"]) for r in runs}
    assert combos == {(k, f) for k in (1e2, 1e4, 1e6) for f in (True, False)}
    # kappa = 1e4 given as an integer is the same float setting
    assert all(isinstance(dict(r.settings)["kappa"], float) for r in runs)


def test_tuple_hyperparameter_list_is_one_value_list_of_lists_is_a_sweep() -> None:
    one = parse_study(BASE.replace('name = "normuon"', 'name = "adamw"\nbetas = [0.9, 0.99]'))
    assert [dict(r.hparams)["betas"] for r in one.runs()[:1]] == [(0.9, 0.99)]
    sweep = parse_study(BASE.replace('name = "normuon"', 'name = "adamw"\nbetas = [[0.9, 0.99], [0.8, 0.9]]'))
    assert len(sweep.runs()) == 2 * 2


def _run_id(text: str, **where) -> str:
    runs = parse_study(text).runs()
    match = [r for r in runs if all(dict(r.settings).get(k, getattr(r, k, None)) == v for k, v in where.items())]
    return match[0].run_id


def test_run_id_same_run_in_two_studies_same_id() -> None:
    a = BASE.replace("d = 8", "d = 8\nkappa = [1e2, 1e4]")
    b = BASE.replace("seeds = 2", "seeds = [1, 0]\nname = 'other'").replace("d = 8", "d = 8\nkappa = 1e4") + "[[optimizers]]\nname = 'muon'\n"
    assert _run_id(a, kappa=1e4, seed=1) == _run_id(b, kappa=1e4, seed=1)
    # spelling a default out does not change the id
    c = BASE.replace("d = 8", "d = 8\nkappa = 10000\nfix_V = true")
    assert _run_id(c, seed=0) == _run_id(BASE, seed=0)
    assert len(_run_id(BASE, seed=0)) == 12


@pytest.mark.parametrize(
    "change",
    [("seeds = [1]", "seeds = [2]"), ("d = 8", "d = 9"), ("steps = 10", "steps = 11"),
     ('name = "normuon"', 'name = "normuon"\nlr = 0.5'), ('name = "normuon"', 'name = "muon"'),
     ("steps = 10", "steps = 10\ndtype = 'float64'")],
)  # fmt: skip
def test_run_id_differs_when_a_setting_differs(change: tuple[str, str]) -> None:
    base = parse_study(BASE.replace("seeds = 2", "seeds = [1]")).runs()[0].run_id
    changed = parse_study(BASE.replace("seeds = 2", "seeds = [1]").replace(*change)).runs()[0].run_id
    assert changed != base


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ConfigError, match=r"^problem\.d: "):
        parse_study(BASE.replace("d = 8", "d = 1"))
