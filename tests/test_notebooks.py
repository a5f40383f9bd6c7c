"""The notebooks of ``notebooks/`` (SPEC 6, issue 5): committed without outputs, and each
one runs top to bottom without an error.

Every notebook runs in a fresh kernel of *this* interpreter (a kernel spec written for
``sys.executable`` into a temporary ``JUPYTER_PATH``, which Jupyter searches first), with
this checkout first on ``PYTHONPATH`` and a temporary working directory, so whatever it
writes (studies, plots) stays out of the repository. Select them with ``-m notebooks``.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 300

pytestmark = pytest.mark.notebooks


def _ids(path: Path) -> str:
    return path.stem


def test_there_is_a_notebook_per_study_family() -> None:
    names = [p.stem for p in NOTEBOOKS]
    for family in ("toy_ablation", "river_valley", "pinn_roi", "hessian_tools", "gram_dominance"):
        assert any(family in name for name in names), f"no notebook for {family}: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == KERNEL
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "a notebook without code"
    assert [i for i, cell in enumerate(code) if cell.outputs or cell.execution_count is not None] == []


@pytest.fixture
def kernel_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``python3`` kernel spec for ``sys.executable`` found first, this checkout importable."""
    jupyter_path = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(jupyter_path / "kernels" / KERNEL)
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(jupyter_path), os.environ.get("JUPYTER_PATH")])))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # The runs are small: one thread each keeps them fast on a shared CI machine.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs(path: Path, tmp_path: Path, kernel_env: None) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError naming the cell and its traceback
    assert all(cell.execution_count is not None for cell in nb.cells if cell.cell_type == "code")
