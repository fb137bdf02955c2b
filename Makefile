# The README opens with `make lab` and `make test`; both set up everything on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.fastwidgets-setup
BUNDLES := $(addprefix src/fastwidgets/static/,curve.js lr_finder.js cleaner.js sgd.js)
JS_SOURCES := $(shell find js/src -name '*.ts') js/build.mjs
# pip warns about each missing local mirror folder on this machine; hide only that noise.
QUIET := 2>&1 | { grep -v "is ignored: it is neither" || true; }

.PHONY: help setup lab test lint typecheck test-js test-py bench chromium clean

help:
	@echo "make lab    - set up and start JupyterLab on examples/"
	@echo "make test   - set up and run every check and test (browser tests included)"
	@echo "make bench  - print the benchmark figures"

# torch first, from this machine's local wheels, so pip never reaches for another build.
$(STAMP): pyproject.toml js/package.json js/package-lock.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1 $(QUIET)
	cd js && npm ci --no-audit --no-fund
	$(PIP) install -q -e ".[dev]" $(QUIET)
	touch $@

# esbuild in seconds; only when a TypeScript source changed.
$(BUNDLES): $(STAMP) $(JS_SOURCES)
	cd js && npm run build
	touch $(BUNDLES)

setup: $(STAMP) $(BUNDLES)

chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

lab: setup
	$(VENV)/bin/jupyter lab --no-browser --ip=127.0.0.1 --allow-root --notebook-dir=examples

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: setup
	$(VENV)/bin/mypy
	cd js && npx tsc --noEmit

test-js: setup
	cd js && npx vitest run

test-py: setup chromium
	$(PY) -m pytest -p no:cacheprovider

test: lint typecheck test-js test-py

bench: setup chromium
	$(PY) bench/curve_overhead.py
	$(PY) bench/curve_render.py
	$(PY) bench/lr_finder_overhead.py
	$(PY) bench/cleaner_scale.py
	$(PY) bench/cleaner_label_noise.py
	$(PY) bench/sgd_redraw.py

clean:
	rm -rf $(VENV) js/node_modules src/fastwidgets/static tests/browser/artifacts
