"""Package list for setuptools (the rest of the metadata is in pyproject.toml).

The shipped studies live at the repository root (SPEC 9) and are mapped into the package
as ``muonlab.studies`` (``package-data`` in pyproject.toml takes their ``*.toml``), where
:mod:`muonlab.catalog` finds them in an installed wheel. pyproject's
``packages.find`` cannot add a mapped directory to the found packages, hence this file.
A ``claims/`` directory joins the same way: add it to ``SHIPPED_DIRS``.
"""

from pathlib import Path

from setuptools import find_packages, setup

SHIPPED_DIRS = [d for d in ("studies", "claims") if Path(d).is_dir()]

setup(
    packages=[*find_packages(include=["muonlab", "muonlab.*"]), *(f"muonlab.{d}" for d in SHIPPED_DIRS)],
    package_dir={f"muonlab.{d}": d for d in SHIPPED_DIRS},
    package_data={f"muonlab.{d}": ["*.toml"] for d in SHIPPED_DIRS},
)
