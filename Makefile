# ftsim: `make serve` and `make test` are all the set-up a fresh machine needs.
PYTHON ?= python3
VENV := .venv
VENV2 := .venv-sdk2
VENV1 := .venv-sdk1
PY := $(VENV)/bin/python
PY2 := $(VENV2)/bin/python
PY1 := $(VENV1)/bin/python
STAMP := $(VENV)/.installed
STAMP2 := $(VENV2)/.installed
STAMP1 := $(VENV1)/.installed
PYTEST_ARGS ?=

.PHONY: install serve test test-sdk3 test-sdk2 test-sdk1 test-wheel typecheck bench clean chromium node-sdk

install: $(STAMP) $(STAMP2) $(STAMP1) chromium node-sdk

# Headless Chromium for the report screenshot test (skipped with a reason when absent): installed through apt
# only where it is missing and apt-get is available; never fails the install.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && apt-get install -y -qq chromium) || \
	    echo "chromium not installed: the report screenshot test will be skipped"; }

# The official OpenAI Node SDK for tests/node/ (the exact version its package-lock.json pins), installed with
# `npm ci` where npm is available; without npm (or when npm ci fails) the Node test is skipped with a reason, and
# the install goes on.
# test-sdk3 depends on it too: a clean clone's CI runs `make test`, not `make install`.
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed
node-sdk:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) -s --no-print-directory $(NODE_STAMP); \
	  else echo "npm not found: the Node SDK tests (tests/node/) will be skipped"; fi

# An npm that cannot reach its registry leaves the Node test skipped (with its reason) rather than failing the
# whole install: the Python suite does not depend on it.
$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@cd $(NODE_DIR) && if npm ci --no-audit --no-fund --loglevel=error; then touch node_modules/.installed; \
	  else echo "npm ci failed: the Node SDK tests (tests/node/) will be skipped"; fi

# Main environment: openai 3.x (httpx2), the package with its dev extras (the tokenizer files ship inside it).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Second environment: openai 2.x (legacy httpx; its httpx2 extra too, so mock() is tested with both stacks),
# for the in-process suite (tests marked sdk2).
$(STAMP2): pyproject.toml
	$(PYTHON) -m venv $(VENV2)
	$(PY2) -m pip install --quiet --upgrade pip
	$(PY2) -m pip install --quiet -e '.[dev]' 'openai[httpx2]>=2,<3'
	touch $(STAMP2)

# Third environment: openai 1.x (httpx), for the test kit and the README examples (tests marked sdk1).
$(STAMP1): pyproject.toml
	$(PYTHON) -m venv $(VENV1)
	$(PY1) -m pip install --quiet --upgrade pip
	$(PY1) -m pip install --quiet -e '.[dev]' 'openai>=1,<2'
	touch $(STAMP1)

serve: $(STAMP)
	$(VENV)/bin/ftsim serve --host 127.0.0.1 --port 8000

test: test-sdk3 test-sdk2 test-sdk1 typecheck test-wheel

test-sdk3: $(STAMP) node-sdk
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

test-sdk2: $(STAMP2)
	$(PY2) -m pytest -q -m sdk2 $(PYTEST_ARGS)

test-sdk1: $(STAMP1)
	$(PY1) -m pytest -q -m sdk1 $(PYTEST_ARGS)

# mypy over the package as installed: mypy cannot follow setuptools' editable finder, which maps api/, simulator/
# and pricing/ under `ftsim`, so the package is installed (no deps, no build isolation: offline) into build/.
TYPECHECK_DIR := build/typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK_DIR)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --target $(TYPECHECK_DIR) .
	cd $(TYPECHECK_DIR) && $(CURDIR)/$(PY) -m mypy --config-file $(CURDIR)/pyproject.toml --cache-dir $(CURDIR)/.mypy_cache -p ftsim

# The built wheel, core only, in a fresh environment beside a user project with its own api/ and pricing/
# packages, offline (tests/wheel/check.py says what it checks).
test-wheel: $(STAMP)
	$(PY) tests/wheel/check.py

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(VENV2) $(VENV1) .ftsim build .mypy_cache $(NODE_DIR)/node_modules
