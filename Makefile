# The two README commands: `make demo` (main job) and `make test` (whole suite).
# Both create .venv on first use and install what they need into it.
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: demo test lint bench-agent bench-ingest clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.deps-collector: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[collector]'
	touch $@

$(VENV)/.deps-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[collector,postgres,dev]'
	touch $@ $(VENV)/.deps-collector

demo: $(VENV)/.deps-collector
	$(BIN)/upkeep demo

test: $(VENV)/.deps-dev
	scripts/test-system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.deps-dev
	$(BIN)/ruff check .

bench-agent: $(VENV)/.deps-dev
	$(BIN)/python benchmarks/agent_footprint.py

bench-ingest: $(VENV)/.deps-dev
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) .upkeep-demo .pytest_cache
