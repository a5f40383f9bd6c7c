"""The runner's import path for the settings checker, which lives in
:mod:`muonlab.schema` (problems declare their schemas with it too)."""

from muonlab.schema import ConfigError, Setting, boolean, choice, float_at_least, int_at_least, type_name

__all__ = ["ConfigError", "Setting", "boolean", "choice", "float_at_least", "int_at_least", "type_name"]
