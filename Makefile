# One entry point for developers and CI. `make check` is exactly what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tollgate-installed

.PHONY: install serve vllm lint types test check bench lock audit

# Dependencies install at the versions pinned in requirements.lock (`make lock` re-pins them); the lock
# is a constraint, so a dependency added to pyproject.toml and not yet locked still installs.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --constraint requirements.lock -e '.[dev]'
	touch $(STAMP)

lock: install  ## re-pin requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra cache --python-version 3.11 -o requirements.lock

audit: install  ## known vulnerabilities in the pinned dependencies (skipped, saying so, without PyPI's data)
	$(BIN)/python tools/audit_dependencies.py

install: $(STAMP)

serve: install  ## run the gateway on its embedded default (the demo config unless TOLLGATE_CONFIG is set)
	$(BIN)/tollgate serve

vllm:  ## the real vLLM CPU server the pool tests use, installed once into ~/.cache/tollgate
	bash tests/vllm_support/install.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

test: install vllm
	$(BIN)/python -m pytest

check: lint types audit test

bench: install  ## gateway vs direct upstream, written to docs/benchmarks.md
	$(BIN)/tollgate bench --output docs/benchmarks.md
