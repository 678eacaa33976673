# The README's two commands: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.omnicloud-installed
AZURITE := node_modules/.bin/azurite-blob
PYTEST_WORKERS ?= 2
# The demo, the tests and the benchmarks talk only to emulators on 127.0.0.1:
# never let credential resolution probe a cloud metadata service from here.
export OMNICLOUD_NO_METADATA = 1

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(STAMP) $(AZURITE)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

demo: setup
	$(BIN)/omnicloud demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict src tests/typing

test: setup lint typecheck
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules .mypy_cache .ruff_cache .pytest_cache
