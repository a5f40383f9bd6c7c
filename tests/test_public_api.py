"""The public names of SPEC 10 import from where SPEC 10 says, ``muonlab.__version__``
is the installed distribution's, and the package parses as Python 3.10 (the floor of
``requires-python``; TOML through :mod:`muonlab.tomlcompat`)."""

from __future__ import annotations

import ast
import importlib
import inspect
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

import muonlab
from muonlab.tomlcompat import tomllib

ROOT = Path(__file__).resolve().parents[1]

# Transcribed from SPEC 10 (module -> names).
SPEC10 = {
    "muonlab.optim": ["build", "hybrid", "zeropower", "OPTIMIZERS", "Muon", "NorMuon", "TrasMuon", "RMNP", "AMUSE", "DAMuon", "SCMuon", "DFMuon"],
    "muonlab.toyproblems": ["AWBT", "OutlierInjection", "RiverValley", "DigitsMLP"],
    "muonlab.pinn": ["ROI_PATCHES", "roi_patch_for_step", "Helmholtz"],
    "muonlab.diagnostics": [
        "hvp", "hessian_operator", "Operator", "lanczos", "EigenResult", "power_iteration", "slq_density",
        "hutchinson_trace", "TraceResult", "dom_bulk_ratio", "gram_diagonal_dominance", "spike_events",
    ],
    "muonlab.analysis": ["load_study", "Study", "table"],
}  # fmt: skip


@pytest.mark.parametrize(("module", "name"), [(m, n) for m, names in SPEC10.items() for n in names])
def test_spec10_name_is_exported(module: str, name: str) -> None:
    mod = importlib.import_module(module)
    assert name in mod.__all__, f"{module}.__all__ lacks {name}"
    assert getattr(mod, name) is not None


def test_spec10_plot_functions_and_optimizer_classes() -> None:
    """``plot_*`` functions exist in muonlab.analysis; OPTIMIZERS maps names to the classes."""
    from muonlab import analysis, optim

    plots = [n for n in analysis.__all__ if n.startswith("plot_")]
    assert plots and all(inspect.isfunction(getattr(analysis, n)) for n in plots)
    assert optim.OPTIMIZERS["trasmuon"] is optim.TrasMuon and optim.OPTIMIZERS["muon"] is optim.Muon


def test_subpackages_are_attributes() -> None:
    assert muonlab.optim is importlib.import_module("muonlab.optim")
    with pytest.raises(AttributeError):
        muonlab.nonexistent  # noqa: B018


def test_version_is_the_installed_distributions() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert muonlab.__version__ == version("muonlab") == pyproject["project"]["version"]


def _sources() -> list[Path]:
    return sorted((ROOT / "muonlab").rglob("*.py"))


def test_sources_parse_as_the_oldest_supported_python() -> None:
    """Grammar of the ``requires-python`` floor (3.10): no ``except*``, no 3.11+ syntax."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "3.10" in SpecifierSet(pyproject["project"]["requires-python"])
    for path in _sources():
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 10))


def test_tomllib_only_through_the_fallback() -> None:
    """``tomllib`` is 3.11+; only muonlab/tomlcompat.py may import it (with tomli on 3.10)."""
    offenders = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module == "tomllib":
                names = ["tomllib"]
            if "tomllib" in names and path.name != "tomlcompat.py":
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
