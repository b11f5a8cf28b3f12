# Two entry points for a fresh machine (see README):
#   make demo   set up .venv and run the whole pipeline locally
#   make test   set up .venv and run every test (fast suite, then the end-to-end demo test)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install chromium postgresql demo test test-fast test-e2e bench clean

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

test: install chromium postgresql
	$(BIN)/pytest -m "not e2e"
	$(BIN)/pytest -m e2e

test-fast: install
	$(BIN)/pytest -m "not e2e and not integration"

test-e2e: install postgresql
	$(BIN)/pytest -m e2e

bench: install
	$(BIN)/python -m benchmarks.consumer_throughput

clean:
	rm -rf $(VENV) .state .pytest_cache
