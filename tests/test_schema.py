"""One declaration per problem (muonlab/schema.py): the constructor, study validation and
``muonlab list`` read the same schema, so defaults and checks cannot disagree."""

from __future__ import annotations

import inspect
import math
import re

import pytest

from muonlab.gpt import GPTSettings
from muonlab.pinn import Helmholtz, HelmholtzSettings
from muonlab.runner import PROBLEMS, ConfigError, parse_study
from muonlab.schema import Schema, Setting
from muonlab.toyproblems import (
    AWBT, AWBTSettings, DigitsMLP, DigitsSettings, InjectionSettings, OutlierInjection, RiverValley,
    RiverValleySettings,
)

CONSTRUCTORS = [
    (AWBT, AWBTSettings), (RiverValley, RiverValleySettings), (DigitsMLP, DigitsSettings),
    (Helmholtz, HelmholtzSettings), (OutlierInjection, InjectionSettings),
]
SCHEMAS = {"awbt": AWBTSettings, "river_valley": RiverValleySettings, "digits": DigitsSettings,
           "helmholtz": HelmholtzSettings, "gpt": GPTSettings}


def _bad(setting: Setting) -> tuple[object, str]:
    """A value ``setting`` rejects, and its TOML spelling."""
    if setting.kind is bool:
        return 1, "1"  # an integer is never a boolean
    if setting.kind is str:
        return "__nope__", '"__nope__"'
    if setting.kind is int:
        return -1_000_000, "-1000000"  # every integer setting has a lower bound >= 0
    if not setting.check(-1e9):
        return -1e9, "-1e9"
    return math.inf, "inf"  # unrestricted floats must still be finite


def _cases(schema: type[Schema]) -> list[tuple[type[Schema], Setting]]:
    return [(schema, s) for s in schema.settings()]


def _constructor_cases() -> list[tuple[type, Setting]]:
    """Every schema field that is also a constructor keyword (Helmholtz's ``roi`` is read
    by ``from_settings``)."""
    return [(cls, s) for cls, schema in CONSTRUCTORS for s in schema.settings()
            if s.name in inspect.signature(cls.__init__).parameters]


@pytest.mark.parametrize(("cls", "schema"), CONSTRUCTORS, ids=lambda x: getattr(x, "__name__", ""))
def test_constructor_defaults_are_the_schema_defaults(cls, schema):
    params = inspect.signature(cls.__init__).parameters
    shared = [s for s in schema.settings() if s.name in params]
    assert len(shared) >= len(schema.settings()) - 1  # Helmholtz's `roi` is read by from_settings
    for s in shared:
        assert params[s.name].default == s.default, s.name
        assert type(params[s.name].default) is type(s.default), s.name


@pytest.mark.parametrize("name", list(PROBLEMS))
def test_study_keys_are_the_schema_fields_in_order(name):
    kind = PROBLEMS[name]
    assert kind.schema is SCHEMAS[name]
    names = [s.name for s in kind.settings]
    assert names[: len(SCHEMAS[name].settings())] == [s.name for s in SCHEMAS[name].settings()]
    assert names[len(SCHEMAS[name].settings()):] == [s.name for s in kind.more_settings]


@pytest.mark.parametrize(("cls", "setting"), _constructor_cases(),
                         ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_constructor_rejects_what_the_schema_rejects(cls, setting):
    schema = dict(CONSTRUCTORS)[cls]
    value, _ = _bad(setting)
    with pytest.raises(ValueError, match=rf"^{schema.owner}\.{setting.name}: .*{re.escape(setting.allowed)}") as info:
        cls(**{setting.name: value})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("schema", "setting"), [c for s in SCHEMAS.values() for c in _cases(s)],
                         ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_study_rejects_what_the_schema_rejects_with_the_same_allowed_text(schema, setting):
    name = next(n for n, s in SCHEMAS.items() if s is schema)
    value, toml = _bad(setting)
    text = f'seeds = 1\nsteps = 2\n[problem]\nname = "{name}"\n{setting.name} = {toml}\n[[optimizers]]\nname = "adamw"\n'
    with pytest.raises(ConfigError, match=rf"^problem\.{setting.name}: .*{re.escape(setting.allowed)}"):
        parse_study(text)
    with pytest.raises(ValueError, match=rf"^{schema.owner}\.{setting.name}: .*{re.escape(setting.allowed)}"):
        schema(**{setting.name: value})


def test_joint_rule_is_the_same_for_constructor_and_study():
    with pytest.raises(ValueError, match=r"^RiverValley\.n: m \* n must be >= 2"):
        RiverValley(1, 1)
    study = 'steps = 2\n[problem]\nname = "river_valley"\nm = 1\nn = [1, 2]\n[[optimizers]]\nname = "adamw"\n'
    with pytest.raises(ConfigError, match=r"^problem\.n: m \* n must be >= 2"):
        parse_study(study)
    # n = 1 is a valid column count once m * n >= 2 (one river and one wall coordinate)
    assert RiverValley(2, 1).q == 1
    with pytest.raises(ValueError, match=r"^GPT\.d_model: must be a multiple of n_heads = 4, got 6"):
        GPTSettings(d_model=6)


def test_int_for_float_is_the_same_number_and_numpy_scalars_are_accepted():
    np = pytest.importorskip("numpy")
    s = AWBTSettings(d=np.int64(8), kappa=100)
    assert type(s.d) is int and type(s.kappa) is float and s.kappa == 100.0
    assert AWBT(d=np.int64(4), kappa=np.float32(10.0)).d == 4


def test_from_settings_reads_roi():
    settings = HelmholtzSettings(roi=False, t0=3, K_out=2, width=4, depth=1, eval_grid=4, roi_grid=2, N_nonroi=4)
    off = Helmholtz.from_settings(settings, steps=10)
    on = Helmholtz.from_settings(HelmholtzSettings(**{**settings.kwargs(), "roi": True}), steps=10)
    assert off.event_steps == [] and on.event_steps == [3, 5, 7, 9]
