"""``[diagnostics]`` validation (SPEC 5): one-line errors naming the key and the allowed
values; defaults; diagnostics do not enter the run id."""

from __future__ import annotations

import pytest

from muonlab.runner import ConfigError, parse_study
from muonlab.runner.observers import DiagnosticsSpec
from muonlab.runner.observers.dom_bulk import DomBulkSpec
from muonlab.runner.observers.gram import GramSpec
from muonlab.runner.observers.spectrum import SpectrumSpec

HEAD = """
steps = 32
every = 4
problem = "awbt"
[[optimizers]]
name = "muon"
"""


def study(diagnostics: str):
    return parse_study(HEAD + "[diagnostics]\n" + diagnostics)


def test_defaults_and_true_form() -> None:
    spec = study('dom_bulk = true\ngram = {}\nstep_size = true\nspectrum = { n_probes = 2 }').diagnostics
    assert spec == DiagnosticsSpec(dom_bulk=DomBulkSpec(), gram=GramSpec(), step_size=True,
                                   spectrum=SpectrumSpec(n_probes=2))
    assert spec.dom_bulk.vectors == ("update",) and spec.enabled
    assert not parse_study(HEAD).diagnostics.enabled
    assert not study("dom_bulk = false").diagnostics.enabled


def test_full_dom_bulk_table() -> None:
    spec = study('dom_bulk = { k = 3, every = 8, refresh = 24, tol = 1e-2, vectors = ["momentum", "update"] }').diagnostics
    assert spec.dom_bulk == DomBulkSpec(k=3, every=8, refresh=24, tol=1e-2, vectors=("momentum", "update"))


def test_diagnostics_do_not_change_run_ids() -> None:
    on = study("dom_bulk = true\nstep_size = true").runs()
    off = parse_study(HEAD).runs()
    assert [r.run_id for r in on] == [r.run_id for r in off]
    assert on[0].diagnostics.dom_bulk == DomBulkSpec()


@pytest.mark.parametrize(
    ("diagnostics", "message"),
    [
        ("hessian = true", "diagnostics.hessian: unknown key; allowed: dom_bulk, gram, step_size, spectrum"),
        ("dom_bulk = { k = 0 }", "diagnostics.dom_bulk.k: must be >= 1, got 0"),
        ('dom_bulk = { k = "ten" }', "diagnostics.dom_bulk.k: expected a int >= 1, got string 'ten'"),
        ("dom_bulk = { kk = 3 }", "diagnostics.dom_bulk.kk: unknown key; allowed: k, every, refresh, tol, max_iter, vectors"),
        ("dom_bulk = { k = 12, max_iter = 11 }", "diagnostics.dom_bulk.max_iter: must be >= k = 12, got 11"),
        ("dom_bulk = { tol = 0.0 }", "diagnostics.dom_bulk.tol: must be > 0, got 0.0"),
        ('dom_bulk = { vectors = ["update", "hessian"] }', "diagnostics.dom_bulk.vectors[1]: must be one of update, gradient, momentum, got 'hessian'"),
        ("dom_bulk = { vectors = [] }", "diagnostics.dom_bulk.vectors: expected a non-empty array of names from update, gradient, momentum, got array []"),
        ('dom_bulk = { vectors = ["update", "update"] }', "diagnostics.dom_bulk.vectors: names must be distinct"),
        ("dom_bulk = { every = 6 }", "diagnostics.dom_bulk.every: must be a multiple of the study's every = 4"),
        ("gram = { every = 10 }", "diagnostics.gram.every: must be a multiple of the study's every = 4"),
        ("gram = 3", "diagnostics.gram: expected a table, true or false, got integer 3"),
        ('step_size = "yes"', "diagnostics.step_size: expected a bool true or false, got string 'yes'"),
        ("spectrum = { grid = 1 }", "diagnostics.spectrum.grid: must be >= 2, got 1"),
    ],
)
def test_errors_name_the_key_and_the_allowed_values(diagnostics: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        study(diagnostics)
    text = str(info.value)
    assert text.startswith(message) and "\n" not in text


def test_diagnostics_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"^diagnostics: expected a table, got integer 3$"):
        parse_study(HEAD.replace('problem = "awbt"', 'problem = "awbt"\ndiagnostics = 3'))
