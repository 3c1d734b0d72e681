# One command each: `make demo` (the main job) and `make test` (lint, types, tests).
# Both create .venv on first use; nothing else needs to be installed beforehand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TYPES_ROOT := .mypy-src

.PHONY: demo test lint typecheck unit bench bench-env clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/walsync demo --force

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

# mypy cannot follow setuptools' editable import hook, so it checks a symlinked walsync/ tree.
typecheck: $(STAMP)
	mkdir -p $(TYPES_ROOT)/walsync
	ln -sfn ../../core $(TYPES_ROOT)/walsync/core
	ln -sfn ../../adapters $(TYPES_ROOT)/walsync/adapters
	ln -sfn ../../projections $(TYPES_ROOT)/walsync/projections
	cd $(TYPES_ROOT) && ../$(BIN)/mypy --config-file ../pyproject.toml \
		-p walsync.core -p walsync.adapters -p walsync.projections

unit: $(STAMP)
	$(BIN)/pytest -n 2 -q

# The bench environment: dev tools plus the peer library bench/bench_peer.py compares against.
bench-env: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'

clean:
	rm -rf $(VENV) $(TYPES_ROOT) .pytest_cache .mypy_cache .hypothesis build *.egg-info walsync-demo.db*
