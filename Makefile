# `make run` builds the environment if needed and runs the whole pipeline; `make test` runs the fast tests.
SHELL := /bin/bash
VENV := .venv
# The first Python 3.12/3.13 that actually runs (pyenv shims of other versions fail the check and are skipped).
PYTHON ?= $(shell for p in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3.12 python3.13 \
	$$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 12), (3, 13)))' 2>/dev/null && { echo $$p; break; }; done)
CORES ?= 2
PYTEST_ARGS ?= -n 2
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# PyTensor's (and through it numba's) compile cache, shared by every checkout on this machine: a model is compiled
# once per machine, not once per clone (the cache keys include the library versions)
export PYTENSOR_FLAGS ?= base_compiledir=$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/irsynth/pytensor

.PHONY: run refit test test-all test-slurm dry-run lint clean env slurm-env

run: env
	python -m irsynth.locks
	snakemake --cores $(CORES)

# re-sample every evidence-model run by MCMC (results/cache/evidence cleared, PSIS updates off for this run)
refit: env
	python -m irsynth.locks
	rm -rf results/cache/evidence
	snakemake --cores $(CORES) --forcerun fit_evidence --config 'evidence_model={update: {method: mcmc}}'

dry-run: env
	python -m irsynth.locks
	snakemake --cores $(CORES) -n

test: env
	@pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

test-all: PYTEST_ARGS += -m ""
test-all: test

# as root: start a single-node SLURM cluster here (.ci/slurm/start-slurm.sh; stop it with .ci/slurm/stop-slurm.sh),
# run a small target through it and compare with a local run (tests/test_slurm.py); not part of `make test`
test-slurm: slurm-env
	bash .ci/slurm/start-slurm.sh
	IRSYNTH_REQUIRE_SLURM=1 pytest -m slurm -s tests/test_slurm.py

# style (ruff, snakefmt: config in pyproject.toml) and Snakemake's own checks of the workflow (.ci/snakemake_lint.py)
lint: env
	ruff check .
	ruff format --check .
	snakefmt --check .
	python .ci/snakemake_lint.py

env: $(VENV)/.installed

# the SLURM executor plugin (requirements-slurm.lock), for profiles/slurm and `make test-slurm`
slurm-env: $(VENV)/.slurm-installed

$(VENV)/.slurm-installed: requirements-slurm.lock $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -r requirements-slurm.lock
	touch $@

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.12 or 3.13 is needed (pyenv: pyenv install 3.12)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

clean:
	rm -rf results .snakemake
