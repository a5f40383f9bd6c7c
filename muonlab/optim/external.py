"""Optimizers from outside muonlab (issue 17): any ``torch.optim.Optimizer`` subclass,
named in a study either by import path (``"mypkg.optim:Lion"``) or by a name its package
registers in the ``muonlab.optimizers`` entry-point group::

    [project.entry-points."muonlab.optimizers"]
    lion = "mypkg.optim:Lion"

Its hyperparameters are the named arguments of ``__init__`` after ``params`` (positional
or keyword-only), each with its default; ``**kwargs`` is not a hyperparameter. Built-in
registry names take precedence over an entry point of the same name.
Such an optimizer needs no ``last_stats()``, ``train()``/``eval()`` or
``momentum_hook``: the runner fills in what it lacks (docs/extending.md).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import torch

ENTRY_POINT_GROUP = "muonlab.optimizers"


def is_import_path(name: str) -> bool:
    """``module:Class`` (``module.sub:Outer.Inner`` also works)."""
    return ":" in name


def entry_point_optimizers() -> dict[str, EntryPoint]:
    """The installed ``muonlab.optimizers`` entry points by name (not loaded)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


@functools.cache
def external_class(name: str) -> type[torch.optim.Optimizer]:
    """The optimizer class ``name`` refers to (an import path or an entry-point name), or
    a one-line ``ValueError`` saying why there is none."""
    if is_import_path(name):
        obj = _import(name)
    else:
        found = entry_point_optimizers()
        if name not in found:
            raise ValueError(f"unknown optimizer {name!r}")
        try:
            obj = found[name].load()
        except Exception as exc:  # a broken plugin is the user's error, reported in one line
            raise ValueError(f"optimizer {name!r}: entry point {found[name].value!r} failed to load: {_one_line(exc)}") from None
    if not (isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer)):
        raise ValueError(f"optimizer {name!r}: {obj!r} is not a torch.optim.Optimizer subclass")
    _check_signature(name, obj)
    return obj


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(f"optimizer {path!r}: cannot import module {module_name!r}: {_one_line(exc)}") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"optimizer {path!r}: module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def _named_arguments(cls: type) -> list[inspect.Parameter]:
    """The arguments of ``cls.__init__`` after ``self`` and ``params`` that can be given by name."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in parameters if p.kind in kinds]


def _check_signature(name: str, cls: type) -> None:
    # A study sweeps hyperparameters around defaults and runs with only some of them
    # given, so every hyperparameter needs a default.
    missing = [p.name for p in _named_arguments(cls) if p.default is inspect.Parameter.empty]
    if missing:
        raise ValueError(f"optimizer {name!r}: {cls.__name__}.__init__ argument(s) {', '.join(missing)} have no default; give each a default")


def external_hyperparameters(cls: type) -> dict[str, Any]:
    """Every hyperparameter of an external optimizer class with its default."""
    return {p.name: p.default for p in _named_arguments(cls)}


def class_path(cls: type) -> str:
    """``module:QualName`` of a class, as a study would name it."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]
