"""No import cycles in ``muonlab/`` (issue 12): the graph of module-level and
function-level ``import`` statements between muonlab modules, read with ``ast`` (no
module is imported), has no strongly connected component of more than one module.

A package ``__init__`` re-exporting its submodules is not a cycle by itself: an edge to
a package counts as an edge to its ``__init__``, and ``from .x import y`` is an edge to
``x`` (or to the package when ``x`` is a name defined in it, never to a sibling).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "muonlab"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The muonlab module that ``name`` refers to (a module, or a name in a package)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(package: Path = PACKAGE) -> nx.DiGraph:
    """Edges ``importer -> imported`` between the modules under ``package``."""
    files = {module_name(p, package.parent): p for p in package.rglob("*.py")}
    modules = set(files)
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    stem = ".".join([*base, node.module] if node.module else base)
                else:
                    stem = node.module or ""
                targets = [f"{stem}.{alias.name}" for alias in node.names]
            for target in targets:
                found = _resolve(target, modules)
                if found is not None and found != name:
                    graph.add_edge(name, found)
    return graph


def cycles(graph: nx.DiGraph, prefix: str) -> list[list[str]]:
    """Strongly connected groups of more than one module within ``prefix``."""
    sub = graph.subgraph(n for n in graph if n == prefix or n.startswith(prefix + "."))
    return sorted(sorted(c) for c in nx.strongly_connected_components(sub) if len(c) > 1)


def test_the_graph_sees_a_known_edge() -> None:
    graph = import_graph()
    assert graph.has_edge("muonlab.analysis.figures", "muonlab.analysis.plots")
    assert graph.has_edge("muonlab.cli", "muonlab.analysis.load")


def test_a_cycle_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "muonlab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from .b import f\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from muonlab.sub import a\n")
    (pkg / "sub" / "c.py").write_text("from . import a\n")
    assert cycles(import_graph(pkg), "muonlab") == [["muonlab.sub.a", "muonlab.sub.b"]]


@pytest.mark.parametrize("prefix", ["muonlab"])
def test_no_import_cycles(prefix: str) -> None:
    assert cycles(import_graph(), prefix) == []
