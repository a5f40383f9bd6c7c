"""The study runner (SPEC 5): study files, one pure ``run(config)``, backends, outputs.

``load_study_config(path)`` validates a study TOML into a :class:`StudyConfig`;
``StudyConfig.runs()`` expands it into :class:`RunConfig` objects; ``run(config)``
trains one and returns a :class:`RunResult`; ``run_study(study, out)`` does all of it
into a study directory.
"""

from .backends import BACKENDS, Backend, LocalBackend, make_backend
from .config import OptimizerSpec, RunConfig, StudyConfig, load_study_config, parse_study
from .observers import DIAGNOSTICS, DiagnosticsSpec
from .problem_api import ProblemInstance, ProblemPlugin, problem_kind, problem_names
from .problems import INJECTION_SETTINGS, PROBLEMS, SPIKE_SETTINGS, ProblemKind
from .run import RunResult, execute, run
from .settings import ConfigError, Setting
from .study import StudyReport, run_study

__all__ = [
    "BACKENDS",
    "DIAGNOSTICS",
    "INJECTION_SETTINGS",
    "PROBLEMS",
    "SPIKE_SETTINGS",
    "Backend",
    "ConfigError",
    "DiagnosticsSpec",
    "LocalBackend",
    "OptimizerSpec",
    "ProblemInstance",
    "ProblemKind",
    "ProblemPlugin",
    "RunConfig",
    "RunResult",
    "Setting",
    "StudyConfig",
    "StudyReport",
    "execute",
    "load_study_config",
    "make_backend",
    "parse_study",
    "problem_kind",
    "problem_names",
    "run",
    "run_study",
]
