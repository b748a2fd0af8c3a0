# The two README commands: `make demo` (main job) and `make test` (whole suite).
# Both create .venv on first use and install what they need into it, at the versions pinned in
# requirements/constraints.txt (so a fresh clone resolves what CI resolved; `make lock` refreshes).
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
# Worker processes of the suite (pytest-xdist): most tests wait on servers and subprocesses, so
# three keep a 2-core machine busy; every test takes its own ports, files and database schema.
# PYTEST_JOBS=0 runs it in one process.
PYTEST_JOBS ?= 3
CONSTRAINTS := requirements/constraints.txt
# Every extra the suite needs; `make lock` resolves exactly these.
DEV_EXTRAS  := collector,postgres,dev

.PHONY: demo test lint lock bench-agent bench-ingest bench-fleet clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -c $(CONSTRAINTS) --upgrade pip setuptools

$(VENV)/.deps-collector: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[collector]'
	touch $@

$(VENV)/.deps-dev: pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[$(DEV_EXTRAS)]'
	touch $@ $(VENV)/.deps-collector

demo: $(VENV)/.deps-collector
	$(BIN)/upkeep demo

test: $(VENV)/.deps-dev
	scripts/test-system-deps
	$(BIN)/python -m pytest -n $(PYTEST_JOBS) $(PYTEST_ARGS)

# Zero findings from each: ruff's lint rules, ruff's formatter, mypy ([tool.mypy] in pyproject).
lint: $(VENV)/.deps-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Re-resolve every dependency to its newest allowed release in a throw-away venv and pin the
# result; review the diff, run `make lint test`, commit the file.
lock:
	scripts/lock $(PY) $(CONSTRAINTS) '$(DEV_EXTRAS)'

bench-agent: $(VENV)/.deps-dev
	scripts/bench-system-deps
	$(BIN)/python benchmarks/agent_footprint.py

bench-ingest: $(VENV)/.deps-dev
	$(BIN)/python benchmarks/ingest.py

# The fleet simulator against a real collector on SQLite, then on PostgreSQL (127.0.0.1:5432,
# a fresh schema): 400 host agents + 4 site agents, 30 s compressed 20x, CPU per batch.
bench-fleet: $(VENV)/.deps-dev
	$(BIN)/python benchmarks/fleet.py --serve sqlite --serve postgresql \
		--agents 400 --clients 20 --sites 4 --speed 20 --duration 30 --warmup

clean:
	rm -rf $(VENV) .upkeep-demo .pytest_cache
