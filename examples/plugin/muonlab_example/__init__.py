"""An example muonlab plugin package: one optimizer (:class:`Lion`) and one problem
(:class:`TeacherRegression`), registered through entry points in pyproject.toml."""

from .lion import Lion
from .regression import TeacherRegression

__all__ = ["Lion", "TeacherRegression"]
