# The two commands a new user runs. Both create ./.venv and install into it; nothing is
# installed by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_SECONDS ?= 30

.PHONY: dev test install install-test lint

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	bash scripts/install-test-tools.sh

## First command: install, then run the whole local stack with demo traffic.
dev: install
	$(BIN)/riskrelay dev --demo --duration $(DEMO_SECONDS)

lint:
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

## Second command: install test dependencies, lint, type-check, run the whole suite.
test: install-test lint
	bash scripts/pytest.sh
