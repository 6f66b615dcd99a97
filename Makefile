# mmdiag: one command to set up and run the pipeline (`make all`), one to set up and test (`make test`).
#
# The virtual environment is (re)built when missing or stale: its stamp is keyed to the hash of the
# dependency files (pyproject.toml + requirements/constraints.txt), so editing either reinstalls.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
CORES ?= $(shell nproc)
CONFIG ?=
SNAKEMAKE_ARGS ?=
DEPS_HASH := $(shell cat pyproject.toml requirements/constraints.txt | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
BIN := $(VENV)/bin
CONFIG_ARG := $(if $(CONFIG),--configfile $(CONFIG),)
export HF_HUB_OFFLINE ?= 1
export DVC_NO_ANALYTICS ?= 1

.DEFAULT_GOAL := help
.PHONY: help all test test-fast venv sysdeps lint format bench report schema restore clean

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing mmdiag and its pinned dependencies into $(VENV) (first time: a few minutes)"
	@$(BIN)/python -m pip install -q --upgrade pip 2>&1 | grep -v "is ignored" || true
	@set -o pipefail; $(BIN)/python -m pip install -q -c requirements/constraints.txt -e ".[dev]" 2>&1 \
		| { grep -v "is ignored" || true; }
	@rm -f $(VENV)/.installed-*
	@touch $@

venv: $(STAMP)  ## create/refresh the virtual environment

sysdeps:  ## Debian packages the tests use (Chromium, SLURM, munge); no-op without root/apt
	@bash tools/install_system_deps.sh

all: $(STAMP)  ## set up, then run the whole DAG on the default config (CONFIG=... for a preset)
	$(BIN)/snakemake all --cores $(CORES) $(CONFIG_ARG) $(SNAKEMAKE_ARGS)

report: $(STAMP)  ## the one-file HTML report of the last `all`
	$(BIN)/snakemake all --cores $(CORES) $(CONFIG_ARG) --report results/report.html

# Two pytest-xdist workers: the long end-to-end tests (each a chain of Snakemake jobs) leave a core idle much of
# the time; tests/conftest.py keeps the tests sharing a fixture on one worker and queues the longest first.
TEST_WORKERS ?= 2

test: $(STAMP) sysdeps  ## set up, then run the whole test suite (offline; TEST_WORKERS=1 for one process)
	$(BIN)/pytest -q $(if $(filter 1,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadscope)

test-fast: $(STAMP)  ## unit tests only (skips the slow end-to-end tests)
	$(BIN)/pytest -q -m "not slow"

bench: $(STAMP)  ## engine overhead and data-path ratios
	$(BIN)/python bench/run_all.py

lint: $(STAMP)  ## ruff + snakefmt checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/

format: $(STAMP)  ## apply ruff and snakefmt formatting
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile rules/

schema: $(STAMP)  ## regenerate config/schema/config.schema.yaml, config/README.md and dvc.yaml
	$(BIN)/mmdiag write-schema
	PATH=$(BIN):$$PATH $(BIN)/mmdiag write-dvc

restore: $(STAMP)  ## dvc pull, then mark the restored results up to date for Snakemake (no retraining)
	PATH=$(BIN):$$PATH bash tools/dvc_restore.sh $(CONFIG_ARG)

clean:  ## remove results (not the venv)
	rm -rf results results_tiny .snakemake
