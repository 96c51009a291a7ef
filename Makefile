# One entry point for developers and CI. `make check` is exactly what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tollgate-installed

.PHONY: install serve vllm chromium lint types test check bench

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: install  ## run the gateway on its embedded default (the demo config unless TOLLGATE_CONFIG is set)
	$(BIN)/tollgate serve

vllm:  ## the real vLLM CPU server the pool tests use, installed once into ~/.cache/tollgate
	bash tests/vllm_support/install.sh

chromium:  ## headless Chromium for the dashboard's browser tests: Debian's package, once
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

test: install vllm chromium
	$(BIN)/python -m pytest

check: lint types test

bench: install  ## gateway vs direct upstream, written to docs/benchmarks.md
	$(BIN)/tollgate bench --output docs/benchmarks.md
