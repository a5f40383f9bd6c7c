"""TOML parsing on every supported Python: the standard library's ``tomllib`` (3.11+) or
its backport ``tomli`` (3.10; a dependency there, see pyproject.toml), same API."""

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["tomllib"]
