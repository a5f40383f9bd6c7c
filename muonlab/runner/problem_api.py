"""The problem protocol for problems from outside muonlab (issue 17; docs/extending.md).

A package registers a :class:`ProblemPlugin` (a subclass, or an instance of one) in the
``muonlab.problems`` entry-point group; the entry-point name is the name a study's
``[problem] name`` uses::

    [project.entry-points."muonlab.problems"]
    quartic = "mypkg.problems:Quartic"

The plugin declares its settings once, as the built-in problems do: a frozen dataclass
subclassing :class:`muonlab.schema.Schema` (``schema``; fields with default, allowed range
and help) or a tuple of :class:`~muonlab.schema.Setting` (``settings``), which study
validation and ``muonlab list`` read, and builds one :class:`ProblemInstance` per run
seed. The runner joins it with any optimizer (built-in or external, with the hybrid
split where asked), logs the loss, the optimizer's
statistics and the instance's metrics, and runs the study's ``[diagnostics]`` on it:
``step_size`` and ``gram`` always, ``dom_bulk`` and ``spectrum`` when the instance has a
functional ``loss_fn`` (its Hessian). A problem knows nothing of optimizers.

Registry: :func:`problem_names` / :func:`problem_kind` cover built-ins and plugins;
built-in names take precedence over an entry point of the same name.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from muonlab.schema import Schema, Setting

from .problems import PROBLEMS, ProblemKind

ENTRY_POINT_GROUP = "muonlab.problems"


@runtime_checkable
class ProblemInstance(Protocol):
    """One seed's problem, on the run's device and dtype.

    Required:
      ``named_parameters()``: the trained tensors (``nn.Parameter``, requires_grad) with
      names, e.g. an ``nn.Module``'s; the order is the order of flat Hessian vectors.
      ``loss(step)``: the scalar objective of step ``step`` (1-based; stochastic problems
      draw step ``step``'s batch from their seed, so reruns are identical).

    Optional (looked up with ``getattr``):
      ``metrics() -> dict[str, Tensor]``: 0-d tensors named as the plugin's ``metrics``,
      logged on every CSV row (no host sync) and as ``final_<name>`` in summary.csv.
      ``loss_fn(params: list[Tensor]) -> Tensor``: a fixed, step-independent functional
      loss of tensors shaped like the parameters (SPEC 10); enables the Hessian
      diagnostics (``dom_bulk``, ``spectrum``).
      ``optimum() -> list[Tensor]``: a known minimiser, parameter by parameter; with
      ``known_optimum = True`` on the plugin the runner logs
      ``rel_dist = ||theta - theta*|| / ||theta*||`` and ``final_rel_dist``.
      ``is_matrix(name, param) -> bool``: which parameters the matrix side of the hybrid
      split takes (default: hidden 2-D weights, see :func:`muonlab.optim.hybrid`).
    """

    def named_parameters(self) -> Iterable[tuple[str, nn.Parameter]]: ...

    def loss(self, step: int) -> Tensor: ...


class ProblemPlugin:
    """Base class of a problem from a plugin package (see the module docstring).

    Class attributes: ``description`` (one line for ``muonlab list``), ``schema`` (a
    :class:`~muonlab.schema.Schema` dataclass of the ``[problem]`` keys; its
    :meth:`~muonlab.schema.Schema.joint` rule is checked at every grid point) and/or
    ``settings`` (more keys as plain :class:`Setting` s, after the schema's),
    ``default_steps``, ``metrics`` (names of the instance's ``metrics()``), ``known_optimum``, ``event_rho`` (default threshold of
    the event-aligned spike rule, SPEC 4).
    """

    description: str = ""
    schema: type[Schema] | None = None
    settings: tuple[Setting, ...] = ()
    default_steps: int = 200
    metrics: tuple[str, ...] = ()
    known_optimum: bool = False
    event_rho: float = 1.5

    def build(self, settings: Mapping[str, Any], *, seed: int, device: torch.device, dtype: torch.dtype) -> ProblemInstance:
        """The problem of seed ``seed`` with validated ``settings`` (every key, defaults filled)."""
        raise NotImplementedError(f"{type(self).__name__}.build")


def entry_point_problems() -> dict[str, EntryPoint]:
    """Installed ``muonlab.problems`` entry points not shadowed by a built-in, by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in PROBLEMS}


def problem_names() -> tuple[str, ...]:
    """Built-in problem names, then installed plugin problems."""
    return (*PROBLEMS, *entry_point_problems())


@functools.cache
def problem_plugin(name: str) -> ProblemPlugin:
    """The loaded plugin ``name``, or a one-line ``ValueError``."""
    found = entry_point_problems()
    if name not in found:
        raise ValueError(f"unknown problem {name!r}; allowed: {', '.join(problem_names())}")
    try:
        obj = found[name].load()
        plugin = obj() if isinstance(obj, type) else obj
    except Exception as exc:  # a broken plugin is reported in one line, not a traceback
        raise ValueError(f"problem {name!r}: entry point {found[name].value!r} failed to load: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not isinstance(plugin, ProblemPlugin):
        raise ValueError(f"problem {name!r}: {found[name].value!r} is not a muonlab.runner.ProblemPlugin")
    return plugin


def problem_kind(name: str) -> ProblemKind:
    """The :class:`ProblemKind` (schema) of a built-in or plugin problem."""
    if name in PROBLEMS:
        return PROBLEMS[name]
    plugin = problem_plugin(name)
    optimum = ("final_rel_dist",) if plugin.known_optimum else ()
    return ProblemKind(
        name=name,
        description=plugin.description or type(plugin).__name__,
        schema=plugin.schema,
        more_settings=tuple(plugin.settings),
        default_steps=plugin.default_steps,
        finals=(*(f"final_{m}" for m in plugin.metrics), *optimum),
        event_rho=plugin.event_rho,
        splits=True,
    )
