"""Package list for setuptools (the rest of the metadata is in pyproject.toml).

The shipped studies live at the repository root (SPEC 9) and are mapped into the package
as ``muonlab.studies`` (``package-data`` in pyproject.toml takes their ``*.toml``), where
:mod:`muonlab.catalog` finds them in an installed wheel. pyproject's
``packages.find`` cannot add a mapped directory to the found packages, hence this file.
``claims/`` joins the same way as ``muonlab.claim_files`` (``muonlab.claims`` is the
claims code).
"""

from pathlib import Path

from setuptools import find_packages, setup

SHIPPED = {f"muonlab.{package}": d for d, package in (("studies", "studies"), ("claims", "claim_files")) if Path(d).is_dir()}

setup(
    packages=[*find_packages(include=["muonlab", "muonlab.*"]), *SHIPPED],
    package_dir=SHIPPED,
    package_data={package: ["*.toml"] for package in SHIPPED},
)
