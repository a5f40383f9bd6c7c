# The README's two commands: `make study` (main job) and `make test`.
# Each bootstraps .venv from nothing when it is missing or pyproject.toml changed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned for the bootstrap: an unpinned `torch` may resolve to a multi-GB
# CUDA build; on a machine with a GPU, PyPI serves the normal (CUDA) build of 2.13.0.
TORCH  ?= torch==2.13.0
STUDY  ?= studies/awbt_ablation.toml
OUT    ?= results/awbt_ablation
BASELINE ?= TrasMuon-NOCLIP

.PHONY: study readme-check readme-table test test-kernels bench notebooks clean

# setuptools' build backend warns about every editable install with a boxed
# "Editable installation" BuildBackendWarning that pip's --quiet does not hide (it is the
# backend's own stderr): PYTHONWARNINGS, inherited by the build subprocess, ignores
# that one message (matched by text, so no setuptools import is needed to parse it).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

# `muonlab run` also writes table.md/table.csv and plots/; --resume makes a second
# `make study` finish whatever an interrupted one left. Then the paired comparison with
# CIs (compare.md) and, for a study with [controls], the evidence table (evidence.md).
study: $(STAMP)
	$(BIN)/muonlab run $(STUDY) --out $(OUT) --resume
	$(BIN)/muonlab compare $(OUT) --baseline $(BASELINE)
	if grep -q '^\[controls\]' $(STUDY); then $(BIN)/python -m muonlab.analysis.evidence $(OUT); fi

# Rewrites the generated results block of README.md from a (re)run of the main job.
# Reruns (resumes) the main job and checks that the README states this run's verdicts.
readme-check: study
	$(BIN)/python -m muonlab.analysis.evidence $(OUT) --check README.md > /dev/null

readme-table: study
	$(BIN)/python -m muonlab.analysis.evidence $(OUT) --readme README.md > /dev/null
	@echo "README.md: results block rewritten from $(OUT)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The numerically sensitive tests once more under torch's non-vectorized kernels: a
# tolerance that holds only for this CPU's AVX2/AVX-512 summation order fails here.
SENSITIVE := tests/optim tests/runner/test_batched.py tests/runner/test_ensemble.py tests/pinn/test_helmholtz.py tests/diagnostics/test_gram.py \
	tests/toyproblems/test_awbt.py tests/toyproblems/test_river_valley.py tests/toyproblems/test_digits.py \
	tests/diagnostics/test_lanczos.py::test_float32_operator \
	tests/runner/test_external_optimizers.py::test_update_rms_from_parameter_deltas_matches_the_baselines_own
test-kernels: $(STAMP)
	ATEN_CPU_CAPABILITY=default $(BIN)/python -m pytest -q -p no:cacheprovider $(SENSITIVE)

bench: $(STAMP)
	for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) results .pytest_cache
