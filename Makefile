# One entry point for developers and CI. `make check` is exactly what CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tollgate-installed
RUNTIME_STAMP := $(VENV)/.tollgate-runtime-installed
# Where `make serve` listens: `make serve PORT=8123 HOST=0.0.0.0`.
HOST ?= 127.0.0.1
PORT ?= 8000

NODE_STAMP := tests/node/node_modules/.installed

.PHONY: install runtime serve vllm node chromium deploy-tools lint types audit lock test check bench bench-scale

# Dependencies install at the versions pinned in requirements.lock (`make lock` re-pins them); the lock
# is a constraint, so a dependency added to pyproject.toml and not yet locked still installs.
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --constraint requirements.lock -e '.[dev]'
	touch $(STAMP) $(RUNTIME_STAMP)

# What `make serve` needs and no more: the gateway's own dependencies, without the developers' tools.
# Not byte-compiled at install: a first start compiles only what it imports (clone to first answer
# measured about 10 s shorter on a two-core machine).
$(RUNTIME_STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile --constraint requirements.lock -e .
	touch $(RUNTIME_STAMP)

lock: install  ## re-pin requirements.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra cache --python-version 3.11 -o requirements.lock

audit: install  ## known vulnerabilities in the pinned dependencies (skipped, saying so, without PyPI's data)
	$(BIN)/python tools/audit_dependencies.py

install: $(STAMP)

runtime: $(RUNTIME_STAMP)

serve: runtime  ## run the gateway on its embedded default (the demo config unless TOLLGATE_CONFIG is set)
	$(BIN)/tollgate serve --host $(HOST) --port $(PORT)

vllm:  ## the real vLLM CPU server the pool tests use, installed once into ~/.cache/tollgate
	bash tests/vllm_support/install.sh

deploy-tools:  ## promtool and haproxy, for tests/deploy and the scale-out benchmark (Debian packages)
	@command -v promtool >/dev/null && command -v haproxy >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus haproxy)

$(NODE_STAMP): tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node: $(NODE_STAMP)  ## the OpenAI Node SDK that the media tests drive, as locked in tests/node/package-lock.json

chromium:  ## headless Chromium for the dashboard's browser tests: Debian's package, once
	test -x /usr/bin/chromium || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy

test: install vllm node chromium deploy-tools
	$(BIN)/python -m pytest

check: lint types audit test

bench: install  ## gateway vs direct upstream, written to docs/benchmarks.md
	$(BIN)/python -m benchmarks --server uvicorn --duration 16 --output docs/benchmarks.md

bench-scale: install deploy-tools  ## 1, 2 and 4 gateways behind HAProxy on shared Postgres and Redis, as they are and as 0.3-CPU pods: docs/bench-scale-out*.md
	$(BIN)/python -m benchmarks --scale-out 1,2,4 --duration 10 --output docs/bench-scale-out.md
	$(BIN)/python -m benchmarks --scale-out 1,2,4 --duration 10 --cpu-per-gateway 0.3 --output docs/bench-scale-out-pods.md

# The compose stack (docker/compose.yaml) on this machine, with a Docker engine started by hand when
# none runs (tools/docker_engine.sh): BASE_IMAGE=python:3.11-slim|debian|auto, STACK_PORT (8000),
# TOLLGATE_ADMIN_TOKEN (generated and printed when unset). tools/stack.sh says more.
.PHONY: docker-engine stack-up stack-down stack-test
docker-engine:  ## Debian's docker.io, docker-compose and debootstrap when missing; dockerd started unless running
	tools/docker_engine.sh start

stack-up: docker-engine  ## build the images, start Postgres, Redis, two gateways behind HAProxy, Prometheus; return when ready
	tools/stack.sh up

stack-down:  ## remove the stack's containers, networks and volumes
	tools/stack.sh down

stack-test: install docker-engine  ## stack-up, the tests of tests/stack (SDK, limits, kills, outages, Prometheus), stack-down
	tools/stack.sh test
