#!/usr/bin/env bash
# The compose stack (docker/compose.yaml) on this machine: `make stack-up`, `stack-down`, `stack-test`.
#   tools/stack.sh up        build the images, start the stack, return once it answers
#   tools/stack.sh down      remove its containers, networks and volumes
#   tools/stack.sh test      up, pytest tests/stack, down (also when the tests fail)
#   tools/stack.sh compose ARGS...   compose with the stack's project, file and settings
# Settings (environment):
#   BASE_IMAGE   the gateway image's Python base: python:3.11-slim (and the official Postgres, Redis,
#                HAProxy and Prometheus images), `debian` (all of them built from Debian's packages
#                on a debootstrap base: no registry needed), or `auto` (default): official when
#                python:3.11-slim can be pulled, else debian
#   STACK_PORT   the API on 127.0.0.1 (8000); PROMETHEUS_PORT Prometheus (9090)
#   TOLLGATE_ADMIN_TOKEN  the admin token; generated (and printed) when unset
#   CA_BUNDLE    the CA bundle pip trusts inside the build (the host's, /etc/ssl/certs/ca-certificates.crt)
# The Docker engine itself: tools/docker_engine.sh start.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT=${STACK_PROJECT:-tollgate}
STATE=.tollgate/stack
ENV_FILE=$STATE/stack.env
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
OFFICIAL_PYTHON=python:3.11-slim
DEBIAN_BASE=tollgate-debian:bookworm

# A busy machine can keep the daemon from answering compose v1 within its default 60 s.
export COMPOSE_HTTP_TIMEOUT=${COMPOSE_HTTP_TIMEOUT:-300}

log() { echo "stack: $*" >&2; }

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -p "$PROJECT" -f docker/compose.yaml "$@"
    else
        docker-compose -p "$PROJECT" -f docker/compose.yaml "$@"
    fi
}

load_env() {
    # shellcheck disable=SC1090
    [ -f "$ENV_FILE" ] && set -a && . "$ENV_FILE" && set +a
    return 0
}

debian_images() {
    if ! docker image inspect "$DEBIAN_BASE" >/dev/null 2>&1; then
        log "building $DEBIAN_BASE with debootstrap (about 30 s)"
        local root
        root=$(mktemp -d /var/tmp/tollgate-debootstrap.XXXXXX)
        debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >/dev/null
        tar -C "$root" -c . | docker import - "$DEBIAN_BASE" >/dev/null
        rm -rf "$root"
    fi
    local target
    for target in python postgres redis haproxy prometheus; do
        DOCKER_BUILDKIT=0 docker build -q -f docker/debian/Dockerfile --target "$target" \
            --build-arg BASE="$DEBIAN_BASE" -t "tollgate-debian/$target:bookworm" . >/dev/null
    done
}

choose_images() {
    local base=${BASE_IMAGE:-auto}
    if [ "$base" = auto ]; then
        if docker image inspect "$OFFICIAL_PYTHON" >/dev/null 2>&1 || timeout 60 docker pull -q "$OFFICIAL_PYTHON" >/dev/null 2>&1; then
            base=$OFFICIAL_PYTHON
        else
            log "no registry answers: every image is built from Debian's packages"
            base=debian
        fi
    fi
    if [ "$base" = debian ]; then
        debian_images
        PYTHON_BASE=tollgate-debian/python:bookworm
        SERVICE_IMAGES="POSTGRES_IMAGE=tollgate-debian/postgres:bookworm
REDIS_IMAGE=tollgate-debian/redis:bookworm
HAPROXY_IMAGE=tollgate-debian/haproxy:bookworm
PROMETHEUS_IMAGE=tollgate-debian/prometheus:bookworm"
    else
        PYTHON_BASE=$base
        SERVICE_IMAGES=""
    fi
}

build_gateway() {
    # pip inside the build trusts the host's CA bundle (a TLS-intercepting proxy in front of the index).
    local bundle=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
    rm -f docker/ca/host.crt
    [ -f "$bundle" ] && cp "$bundle" docker/ca/host.crt
    log "building tollgate:latest on $PYTHON_BASE"
    DOCKER_BUILDKIT=0 docker build -q -f docker/Dockerfile --build-arg BASE_IMAGE="$PYTHON_BASE" \
        -t tollgate:latest . >/dev/null
    rm -f docker/ca/host.crt
}

write_env() {
    mkdir -p "$STATE"
    local token=${TOLLGATE_ADMIN_TOKEN:-}
    if [ -z "$token" ] && [ -f "$ENV_FILE" ]; then  # a running stack keeps its token
        token=$(sed -n 's/^TOLLGATE_ADMIN_TOKEN=//p' "$ENV_FILE")
    fi
    if [ -z "$token" ]; then
        token=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
        log "TOLLGATE_ADMIN_TOKEN=$token (generated; also in $ENV_FILE)"
    fi
    umask 077
    {
        echo "TOLLGATE_ADMIN_TOKEN=$token"
        echo "STACK_PORT=${STACK_PORT:-8000}"
        echo "PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}"
        echo "TOLLGATE_IMAGE=tollgate:latest"
        [ -n "$SERVICE_IMAGES" ] && echo "$SERVICE_IMAGES"
    } >"$ENV_FILE"
}

wait_ready() {
    local port=${STACK_PORT:-8000} prom=${PROMETHEUS_PORT:-9090} ids
    ids=$(compose ps -q gateway-1 gateway-2)
    for _ in $(seq 1 180); do
        # shellcheck disable=SC2086
        if [ "$(docker inspect -f '{{.State.Health.Status}}' $ids | sort -u)" = healthy ] \
            && "$PYTHON" - "$port" "$prom" <<'EOF'
import sys, urllib.request
for url in (f"http://127.0.0.1:{sys.argv[1]}/healthz", f"http://127.0.0.1:{sys.argv[2]}/-/ready"):
    urllib.request.urlopen(url, timeout=2)
EOF
        then
            log "ready: API on http://127.0.0.1:$port, Prometheus on http://127.0.0.1:$prom"
            return 0
        fi
        sleep 1
    done
    log "the stack did not become ready within 180 s"
    compose ps >&2 || true
    compose logs --tail 30 >&2 || true
    return 1
}

up() {
    local started=$SECONDS
    choose_images
    log "base and service images ready after $((SECONDS - started)) s"
    build_gateway
    log "gateway image built after $((SECONDS - started)) s"
    write_env
    load_env
    compose up -d --no-build --remove-orphans >&2
    wait_ready
    log "stack up after $((SECONDS - started)) s"
}

down() {
    load_env
    compose down -v --remove-orphans >&2
    rm -f "$ENV_FILE"
}

run_tests() {
    local tests rc
    STACK_TEST_STARTED=$SECONDS
    trap 'down; log "stack-test took $((SECONDS - STACK_TEST_STARTED)) s (images, start, tests, removal)"' EXIT
    up
    load_env
    tests=$SECONDS
    set +e
    TOLLGATE_STACK=1 "$PYTHON" -m pytest tests/stack -p no:cacheprovider -s "$@"
    rc=$?
    set -e
    log "tests took $((SECONDS - tests)) s"
    return $rc
}

case ${1:-} in
    up) up ;;
    down) down ;;
    test) shift; run_tests "$@" ;;
    compose) shift; load_env; compose "$@" ;;
    *) echo "usage: $0 up|down|test [pytest args]|compose ARGS" >&2; exit 2 ;;
esac
