# Two entry points for a fresh machine (see README):
#   make demo   set up .venv and run the whole pipeline locally
#   make test   set up .venv and run every test (fast suite, then the end-to-end demo test)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install chromium demo lint test test-fast test-e2e test-chaos postgresql bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python >= 3.11 is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# The dashboard's browser test drives the system Chromium (no browser download by Playwright).
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

# The production profile's e2e test starts a throwaway PostgreSQL (initdb/pg_ctl) from the
# Debian package; nothing runs as a system service.
PG_BIN := $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))

postgresql:
	@[ -n "$(PG_BIN)" ] || { $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

demo: install
	$(BIN)/energy demo

# Tests marked `clock` depend on what time it is (they land "the last hours" of generated data):
# they run with the platform clock pinned (ENERGY_CLOCK_NOW via --clock, see tests/conftest.py) at
# a local night, a local midday and a DST-change day, so the result never depends on when or in
# which time zone `make test` runs.
CLOCKS := night midday dst-autumn

# ruff (settings in pyproject.toml) runs first in `make test`, so lint findings fail it.
LINT_PATHS := energy_orchestration tests benchmarks

lint: install
	$(BIN)/ruff check $(LINT_PATHS)

# The first two steps run on TEST_WORKERS pytest-xdist workers: most of their time is spent
# waiting on real brokers, DuckDB files and Dagster, so two workers on 2 cores take ~10 min
# instead of ~17. Every test uses free ports and its own temp folder, so they can share a
# machine. The e2e tests each start a whole stack and stay one at a time.
TEST_WORKERS ?= 2

test: install chromium postgresql
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/pytest -m "not e2e and not clock" -n $(TEST_WORKERS)
	@set -e; for clock in $(CLOCKS); do $(BIN)/pytest -m "clock and not e2e" --clock=$$clock -n $(TEST_WORKERS); done
	$(BIN)/pytest -m e2e

test-fast: install
	$(BIN)/pytest -m "not e2e and not integration"

test-e2e: install postgresql
	$(BIN)/pytest -m e2e

# The landing path's fault injection (kill -9, SIGTERM under contention, poison input); also part
# of `make test`'s first step (not e2e).
test-chaos: install
	$(BIN)/pytest -m chaos tests/chaos

bench: install
	$(BIN)/python -m benchmarks.consumer_throughput

clean:
	rm -rf $(VENV) .state .pytest_cache
