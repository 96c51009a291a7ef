#!/usr/bin/env bash
# A Docker engine for `make stack-*` on a machine without systemd (CI, development containers).
#   tools/docker_engine.sh install   Debian's docker.io, docker-compose (v1) and debootstrap, when missing
#   tools/docker_engine.sh start     install, then start dockerd by hand unless a daemon already answers
#   tools/docker_engine.sh stop      stop the dockerd that `start` started (never one it did not start)
#   tools/docker_engine.sh status    exit 0 when a daemon answers
# The daemon's log and pid file are under ${TOLLGATE_DOCKER_STATE:-/var/tmp/tollgate-docker}.
set -euo pipefail

STATE=${TOLLGATE_DOCKER_STATE:-/var/tmp/tollgate-docker}
PIDFILE=$STATE/dockerd.pid
LOG=$STATE/dockerd.log

answers() { docker info >/dev/null 2>&1; }

install() {
    local missing=()
    command -v dockerd >/dev/null || [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
    command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
    command -v debootstrap >/dev/null || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

start() {
    install
    if answers; then
        return 0
    fi
    mkdir -p "$STATE"
    # Containers inherit the daemon's open-files limit; keep it within the machine's cap.
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    PATH=$PATH:/usr/sbin setsid dockerd --pidfile "$PIDFILE" >"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        if answers; then
            echo "dockerd started (pid $(cat "$PIDFILE"), log $LOG)" >&2
            return 0
        fi
        sleep 1
    done
    echo "dockerd did not answer within 60 s; its log:" >&2
    tail -20 "$LOG" >&2
    return 1
}

stop() {
    [ -f "$PIDFILE" ] || { echo "no dockerd started by this script" >&2; return 0; }
    local pid
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "dockerd stopped" >&2; return 0; }
        sleep 1
    done
    echo "dockerd (pid $pid) still running after 30 s" >&2
    return 1
}

case ${1:-} in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) answers ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
