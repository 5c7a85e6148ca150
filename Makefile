# The two set-up commands of the README: `make run` and `make test`. Both build .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
NPM ?= $(shell command -v npm)
# The status page's NHS.UK styles, and axe-core for its accessibility tests (package.json).
ASSETS := node_modules/.installed
ASSETS_HINT := install Node.js with npm (e.g. apt-get install -y npm), then run make assets

.PHONY: run test lint fmt bench chaos clean help assets screenshots

help:
	@echo "make run    initialise var/monitor.db and run the monitor on config.toml"
	@echo "make test   lint and run the whole test suite"
	@echo "make lint   ruff, formatting and mypy"
	@echo "make bench  run the benchmarks under bench/ (writes bench/results.json)"
	@echo "make chaos  kill -9, failing servers, dropped sessions, a PostgreSQL restart (writes bench/chaos.json); TRIALS=10 for the short run .ci/run makes"
	@echo "make assets install nhsuk-frontend and axe-core from the npm registry (node_modules/)"
	@echo "make screenshots  every page type at 390 and 1280 px, from the shipped data, into var/screenshots/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Re-install when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[postgres]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[postgres,dev]'
	touch $@ $(VENV)/.installed-run

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[postgres,dev,bench]'
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed-run

# Without npm (or when the registry cannot be reached) the status page still works, as plain
# HTML; the line printed says what is missing and how to get it.
assets:
ifeq ($(NPM),)
	@echo "nhsuk-frontend: NOT INSTALLED (npm is missing): the status page will be plain HTML without NHS.UK styles; $(ASSETS_HINT)"
else
	@$(MAKE) -s --no-print-directory $(ASSETS)
endif

$(ASSETS): package.json package-lock.json
	@$(NPM) ci --no-audit --no-fund --loglevel=error && touch $@ \
	  || echo "nhsuk-frontend: NOT INSTALLED (npm ci failed): the status page will be plain HTML without NHS.UK styles; run make assets again when the npm registry can be reached"

run: $(VENV)/.installed-run assets
	$(BIN)/monitor --config config.toml init
	$(BIN)/monitor --config config.toml run

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
ifeq ($(NPM),)
	@echo "NOT RUN: npm is missing, so axe-core is not installed and the browser tests will not run; $(ASSETS_HINT)"
else
	@$(MAKE) -s --no-print-directory $(ASSETS)
endif
	$(BIN)/python -m pytest

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/run.py

# The chaos suite (tools/chaos.py): TRIALS kill -9 trials per step on SQLite, and on PostgreSQL
# when MONITOR_TEST_POSTGRES_URL names a server; STEPS picks steps (default: all).
TRIALS ?= 100
STEPS ?=
chaos: $(VENV)/.installed-dev
	$(BIN)/python -m tools.chaos --trials $(TRIALS) $(if $(STEPS),--steps $(STEPS))

# Every page type of the status page at phone and desktop width, seeded from data/real as
# `make run` seeds, into var/screenshots/ (tools/screenshots.py; needs Debian's chromium).
screenshots: $(VENV)/.installed-dev assets
	$(BIN)/python -m tools.screenshots var/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache node_modules
