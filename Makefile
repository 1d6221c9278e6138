# Mangaflow: `make demo` (a manga from the sample story) and `make test` set up everything themselves.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov and its many dependencies live in their own environment so they never move the project's pins.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
STORY ?= examples/lantern-festival.ja.txt
PAGES ?= 8
OUT ?= out
# `make test` runs on a stack of its own (data, ports, processes), never on the one `make demo` left running.
TEST_LOCAL_DIR := $(CURDIR)/.local/test

.PHONY: setup tools chromium demo test bench services-up services-down clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt functions/requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

tools: $(TOOLS_STAMP)

$(TOOLS_STAMP): tools/requirements.txt tools/constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 2; }
	test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet -r tools/requirements.txt -c tools/constraints.txt
	touch $(TOOLS_STAMP)

# Debian's Chromium for the browser tests (the quality report; shared with the review app's tests),
# driven by npm playwright-core at /usr/bin/chromium: never a downloaded browser build.
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else echo "error: /usr/bin/chromium is missing; install Debian's package: sudo apt-get install -y chromium"; exit 2; fi; }

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found (Node.js 18+ runs the Firestore emulator)"; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

services-up: setup
	$(BIN)/mangaflow services up

services-down:
	-$(BIN)/mangaflow services down
	-MANGAFLOW_LOCAL_DIR=$(TEST_LOCAL_DIR) $(BIN)/mangaflow services down

demo: setup
	$(BIN)/mangaflow generate $(STORY) --pages $(PAGES) --out $(OUT) --auto-approve
	@echo "The manga is in $(OUT)/: pages/*.png, manga.pdf, manga.cbz, manifest.json"

test: setup tools chromium
	MANGAFLOW_LOCAL_DIR=$(TEST_LOCAL_DIR) $(BIN)/mangaflow services up
	MANGAFLOW_TEST_LOCAL_DIR=$(TEST_LOCAL_DIR) $(BIN)/python -m pytest -q -p no:cacheprovider; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: a failure"; exit 1; fi; exit $$status

bench: setup
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/mangaflow services up
	$(BIN)/python bench/run_all.py

clean: services-down
	rm -rf $(VENV) $(TOOLS_VENV) node_modules .local $(OUT)
