"""environment.yml stays in sync with pyproject.toml (SPEC 9, issue 5).

Every runtime dependency of pyproject (and every ``test`` extra, which the notebooks
need) must be in environment.yml with the same version bounds: as a conda package
(PyPI name mapped to its conda-forge name) or as a pip-only package under ``pip:``;
``-e .`` installs muonlab itself; the pinned Python satisfies ``requires-python``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml  # PyYAML: a dependency of dask, hence always installed with muonlab
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"torch": "pytorch"}
# What the conda environment adds for notebook users (issue 5), beyond pyproject.
NOTEBOOK_PACKAGES = ("jupyter", "ipykernel")


def parse_environment(text: str) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """``(conda, pip, pip_lines)``: conda and pip packages as name -> version spec text
    (conda's ``python=3.11`` kept verbatim), and the raw pip lines."""
    env = yaml.safe_load(text)
    conda: dict[str, str] = {}
    pip_lines: list[str] = []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            pip_lines.extend(entry["pip"])
            continue
        name, spec = _split_spec(str(entry))
        conda[name] = spec
    pip = dict(_split_spec(line) for line in pip_lines if not line.startswith("-"))
    return conda, pip, pip_lines


def _split_spec(entry: str) -> tuple[str, str]:
    for i, char in enumerate(entry):
        if char in "<>=!~ ":
            return canonicalize_name(entry[:i]), entry[i:].strip()
    return canonicalize_name(entry), ""


def required(pyproject: dict, python_version: str) -> list[Requirement]:
    """Runtime and ``test`` requirements of pyproject whose markers hold on ``python_version``."""
    project = pyproject["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    reqs = [Requirement(line) for line in lines]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"python_version": python_version})]


def drift(reqs: list[Requirement], conda: dict[str, str], pip: dict[str, str]) -> list[str]:
    """One line per requirement that environment.yml lacks or pins differently."""
    problems = []
    for req in reqs:
        pypi = canonicalize_name(req.name)
        conda_name = CONDA_NAMES.get(pypi, pypi)
        if conda_name in conda:
            listed, where = conda[conda_name], f"conda {conda_name}"
        elif pypi in pip:
            listed, where = pip[pypi], f"pip {pypi}"
        else:
            problems.append(f"{req.name}: missing (add `{CONDA_NAMES.get(pypi, req.name)}{req.specifier}`)")
            continue
        if SpecifierSet(listed) != req.specifier:
            problems.append(f"{req.name}: pyproject says {req.specifier or 'any'}, environment.yml ({where}) says {listed or 'any'}")
    return problems


@pytest.fixture(scope="module")
def environment() -> tuple[dict[str, str], dict[str, str], list[str]]:
    return parse_environment((ROOT / "environment.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _python_version(conda: dict[str, str]) -> str:
    spec = conda["python"]
    assert spec.startswith("=") and not spec.startswith("=="), f"python pin {spec!r}: expected conda's python=X.Y"
    return spec[1:]


def test_every_dependency_is_in_environment(environment, pyproject):
    conda, pip, _ = environment
    reqs = required(pyproject, _python_version(conda))
    assert {canonicalize_name(r.name) for r in reqs} >= {"numpy", "torch", "schedulefree", "nbclient"}
    assert drift(reqs, conda, pip) == []


def test_pip_section_installs_muonlab_editable(environment):
    _, _, pip_lines = environment
    assert "-e ." in [line.strip() for line in pip_lines]


def test_python_pin_satisfies_requires_python(environment, pyproject):
    conda, _, _ = environment
    version = _python_version(conda)
    assert version in SpecifierSet(pyproject["project"]["requires-python"])


def test_notebook_packages_are_listed(environment):
    conda, pip, _ = environment
    assert [p for p in NOTEBOOK_PACKAGES if p not in conda and p not in pip] == []


def test_drift_is_reported():
    """The check itself: a missing package, a changed bound and a conda-renamed package."""
    env = """
dependencies:
  - python=3.11
  - numpy>=1.20
  - pytorch>=2.9
  - pip:
      - -e .
"""
    conda, pip, _ = parse_environment(env)
    project = {"dependencies": ["numpy>=1.24", "torch>=2.9", "tomli>=2.0; python_version < '3.11'"],
               "optional-dependencies": {"test": ["schedulefree>=1.2"]}}
    assert drift(required({"project": project}, "3.11"), conda, pip) == [
        "numpy: pyproject says >=1.24, environment.yml (conda numpy) says >=1.20",
        "schedulefree: missing (add `schedulefree>=1.2`)",
    ]
