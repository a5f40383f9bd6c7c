"""Ready study files (and, later, claim files) shipped with muonlab, found by name.

The repository keeps them at its root (``studies/``, ``claims/``; SPEC 9); the wheel maps
each directory into the package (``muonlab/studies``, ``muonlab/claim_files``; setup.py), so an
installed muonlab has them without the repository. :func:`data_dir` looks in the package
first (an installed wheel) and then beside it (a source checkout or an editable
install, where ``muonlab/`` and ``studies/`` are siblings under one ``pyproject.toml``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# Where each kind sits inside an installed package (setup.py maps the repository's
# directories there); claims go to ``claim_files`` because ``muonlab.claims`` is code.
PACKAGED = {"studies": "studies", "claims": "claim_files"}
DATA_DIRS = tuple(PACKAGED)


class CatalogError(ValueError):
    """A study name that is neither a file nor a shipped study: one line."""


def data_dir(kind: str) -> Path | None:
    """Where the shipped ``kind`` files (``studies`` or ``claims``) are; None when absent."""
    packaged = PACKAGE_DIR / PACKAGED[kind]
    if packaged.is_dir() and any(packaged.glob("*.toml")):
        return packaged
    checkout = PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / kind).is_dir():
        return checkout / kind
    return None


@dataclass(frozen=True)
class Entry:
    """One shipped file: its name (the file stem), path and one-line description."""

    name: str
    path: Path
    description: str


def entries(kind: str = "studies") -> dict[str, Entry]:
    """The shipped ``kind`` files by name, sorted."""
    folder = data_dir(kind)
    if folder is None:
        return {}
    return {p.stem: Entry(p.stem, p, description(p.read_text(encoding="utf-8"))) for p in sorted(folder.glob("*.toml"))}


def description(text: str) -> str:
    """The first line of a file's leading ``#`` comment (study files open with a title line)."""
    for line in text.splitlines():
        if not line.startswith("#"):
            return ""
        stripped = line.lstrip("#").strip()
        if stripped:
            return stripped
    return ""


def resolve(path_or_name: Path | str, kind: str = "studies") -> Path:
    """A study file: ``path_or_name`` itself when it is a file or looks like a path (a
    ``.toml`` suffix or a directory part: the loader then reports a missing file), else
    the shipped study of that name; :class:`CatalogError` naming the shipped ones."""
    path = Path(path_or_name)
    if path.is_file() or path.suffix == ".toml" or len(path.parts) > 1:
        return path
    shipped = entries(kind)
    if path.name in shipped:
        return shipped[path.name].path
    names = ", ".join(shipped) or "none installed"
    raise CatalogError(f"{path_or_name}: no such study file or shipped study; shipped: {names} (muonlab {kind})")


def copy_to(name: str, destination: Path | None, kind: str = "studies") -> Path:
    """Copy the shipped ``name`` to ``destination`` (a file, or a directory to put
    ``<name>.toml`` in; default the current directory); never overwrites."""
    shipped = entries(kind)
    if name not in shipped:
        raise CatalogError(f"{name}: no shipped study of that name; shipped: {', '.join(shipped) or 'none installed'}")
    target = Path(destination) if destination is not None else Path.cwd()
    if target.is_dir():
        target = target / f"{name}.toml"
    if target.exists():
        raise CatalogError(f"{target}: already exists; give another PATH")
    if not target.parent.is_dir():
        raise CatalogError(f"{target.parent}: no such directory")
    shutil.copyfile(shipped[name].path, target)
    return target
