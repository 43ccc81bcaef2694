# Asset Hub developer commands.
#
#   make lab    set up (first time only), load the examples, start JupyterLab
#   make test   set up, lint (ruff, mypy, eslint), run jest and pytest   (PYTEST_ARGS="-k foo -x")
#   make setup  only the set-up;  make lint  only the linters;  make bench  the benchmarks
#               (store vs DVC, then the sweeps vs Ray Tune: see bench/README.md)
#
# Set-up is idempotent: each step has a stamp file and reruns only when its inputs changed
# (pyproject.toml/package.json -> pip; package.json/yarn.lock -> jlpm install;
# src/, style/, tsconfig.json -> jlpm build). Delete .venv, build/ or node_modules to redo it.
# The tests start a throwaway PostgreSQL server and drive Chromium: their Debian packages are
# installed when missing.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMPS := build/stamps

# Everything below runs with the virtualenv first on PATH, so `jupyter`, `jlpm` and the
# `jupyter labextension build` that jlpm's scripts call are the venv's.
export PATH := $(BIN):$(PATH)
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
unexport PYTHONHOME

PIP := $(BIN)/python -m pip
PIP_FLAGS ?= -q --disable-pip-version-check
JLPM := $(BIN)/jlpm

PIP_STAMP := $(VENV)/.stamp-pip
BENCH_STAMP := $(VENV)/.stamp-bench
LINK_STAMP := $(VENV)/.stamp-jupyter-links
NPM_STAMP := $(STAMPS)/jlpm-install
BUILD_STAMP := $(STAMPS)/jlpm-build
PG_STAMP := $(STAMPS)/postgresql
CHROMIUM_STAMP := $(STAMPS)/chromium
CHROMIUM := /usr/bin/chromium
PG_INITDB := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))

FRONTEND_SOURCES := $(shell find src style -type f 2>/dev/null) tsconfig.json package.json

# Force a step when its output went missing, even if its stamp is newer than its inputs.
force-if-missing = $(if $(wildcard $(1)),,FORCE)

.PHONY: setup lab test lint bench FORCE

setup: $(PIP_STAMP) $(BUILD_STAMP) $(LINK_STAMP) $(PG_STAMP) $(CHROMIUM_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Editable install. The frontend is built by the jlpm steps below, so the hatch build hook
# is told to skip it; build requirements are installed into the venv once instead of into
# a fresh isolated environment on every reinstall. This also (re)writes
# assethub_ext/_version.py from package.json's version.
$(PIP_STAMP): pyproject.toml package.json $(call force-if-missing,assethub_ext/_version.py) | $(BIN)/python
	$(PIP) install $(PIP_FLAGS) "hatchling>=1.21" "hatch-nodejs-version>=0.3.2" "hatch-jupyter-builder>=0.9" "editables>=0.3"
	SKIP_JUPYTER_BUILDER=1 $(PIP) install $(PIP_FLAGS) --no-build-isolation -e ".[test,examples]"
	touch $@

$(NPM_STAMP): package.json .yarnrc.yml $(wildcard yarn.lock) $(call force-if-missing,node_modules) | $(PIP_STAMP)
	mkdir -p $(STAMPS)
	YARN_ENABLE_IMMUTABLE_INSTALLS=false $(JLPM) install > $(STAMPS)/jlpm-install.log 2>&1 \
	    || { cat $(STAMPS)/jlpm-install.log; exit 1; }
	touch $@

$(BUILD_STAMP): $(NPM_STAMP) $(FRONTEND_SOURCES) $(call force-if-missing,assethub_ext/labextension/package.json)
	$(JLPM) build > $(STAMPS)/jlpm-build.log 2>&1 || { cat $(STAMPS)/jlpm-build.log; exit 1; }
	touch $@

$(LINK_STAMP): $(PIP_STAMP) | $(BUILD_STAMP)
	jupyter labextension develop . --overwrite
	jupyter server extension enable assethub_ext --sys-prefix
	touch $@

# PostgreSQL's server binaries for the team-hub tests (tests/servers.py starts a cluster of
# its own on a free port); installed from Debian's packages only when initdb is absent.
$(PG_STAMP): $(call force-if-missing,$(PG_INITDB))
	mkdir -p $(STAMPS)
	if ! ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1; then \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$sudo apt-get update -q; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; \
	fi
	touch $@

# Debian's Chromium for the panel's browser test (Playwright drives it; no browser is ever
# downloaded, so `playwright install` is never run); installed only when absent.
$(CHROMIUM_STAMP): $(call force-if-missing,$(CHROMIUM))
	mkdir -p $(STAMPS)
	if [ ! -x $(CHROMIUM) ]; then \
	    sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	    $$sudo apt-get update -q; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	fi
	touch $@

lint: setup
	ruff check .
	ruff format --check .
	mypy assethub_ext
	$(JLPM) eslint:check

test: lint
	$(JLPM) test
	pytest $(PYTEST_ARGS)

# LAB_ARGS passes extra options, e.g. make lab LAB_ARGS="--port=8890 --no-browser"
lab: setup
	python examples/load_examples.py
	jupyter lab --ServerApp.ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

$(BENCH_STAMP): pyproject.toml $(PIP_STAMP)
	SKIP_JUPYTER_BUILDER=1 $(PIP) install $(PIP_FLAGS) --no-build-isolation -e ".[test,examples,bench]"
	touch $@

# SWEEP_BENCH_ARGS passes options to the sweep bench, e.g. SWEEP_BENCH_ARGS="--repeat 3"
bench: setup $(BENCH_STAMP)
	python bench/run.py $(BENCH_ARGS)
	python bench/sweeps.py $(SWEEP_BENCH_ARGS)
