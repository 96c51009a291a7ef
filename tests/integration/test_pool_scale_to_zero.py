"""Scale to zero with the real vLLM on CPU: ``tollgate pool serve`` runs the pool and the gateway stops it
over the control endpoint after ``idle_after`` without a request; a request for a model with a
fallback is served by the fallback while the pool starts again; a request for the pool alone waits
for it and is answered by it. Each cold start is printed (``pytest -s``): docs/routing-vllm.md."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.fakes.openai_server import API_KEY
from tests.integration.test_pool_serve import pool_config, wait_for_line
from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.upstreams import Upstream, running_upstreams
from tests.vllm_support.server import SERVED_MODEL_NAME, ensure_model, ensure_vllm

pytestmark = pytest.mark.vllm

TOKEN = "pool-control-token-for-tests"
IDLE = 3.0


def scaled_config(model: Path, port: int, control: int, fallback: Upstream, workdir: Path) -> dict[str, Any]:
    config = pool_config(model, port, workdir)
    config["backends"]["local"].update(
        min_replicas=0,
        idle_after=f"{IDLE:g}s",
        max_cold_start_wait=240,
        control={"url": f"http://127.0.0.1:{control}", "token": TOKEN},
    )
    config["backends"]["fallback"] = {"type": "openai_compatible", "base_url": fallback.base_url, "api_key": API_KEY}
    deployment = {"backend": "local", "model": SERVED_MODEL_NAME}
    config["models"] = [
        {"name": "tiny", "deployments": [deployment]},
        {"name": "tiny-fb", "deployments": [deployment, {"backend": "fallback", "model": "m"}]},
    ]
    config["routing"] = {"health_interval": 0.5}
    return config


@pytest.fixture
def fallback(tmp_path: Path) -> Iterator[Upstream]:
    with running_upstreams(["fallback"], tmp_path) as running:
        yield running["fallback"]


def metric(url: str, name: str) -> float:
    found = re.search(rf'^{name}\{{pool="local"\}} (\S+)$', httpx.get(f"{url}/metrics", timeout=5).text, re.M)
    return float(found.group(1)) if found else 0.0


def ask(url: str, key: str, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=300)


def stopped(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    except httpx.ConnectError:
        return True
    return False


def test_the_pool_sleeps_when_idle_and_wakes_on_the_next_request(fallback: Upstream, tmp_path: Path) -> None:
    ensure_vllm()
    model = ensure_model(Path.home() / ".cache" / "tollgate" / "tiny-llama")
    port, control = free_port(), free_port()
    config = scaled_config(model, port, control, fallback, tmp_path)
    (tmp_path / "tollgate.yaml").write_text(yaml.safe_dump(config))
    command = [sys.executable, "-m", "gateway", "pool", "serve", "local", "--config", "tollgate.yaml"]
    pool = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        wait_for_line(pool, "pool local ready", timeout=300)
        key = create_key(config, tmp_path, "scale-co")
        with running_gateway(config, tmp_path, ready_within=120) as url:
            assert ask(url, key, "tiny").headers["x-tollgate-backend"] == "local"

            wait_for_line(pool, "pool local replicas stopped", timeout=60)  # idle 3 s: stopped
            assert stopped(port) and metric(url, "tollgate_pool_replicas_running") == 0

            asked = time.monotonic()
            served = ask(url, key, "tiny-fb")  # the fallback serves while the pool starts
            assert served.status_code == 200 and served.headers["x-tollgate-backend"] == "fallback"
            assert time.monotonic() - asked < 10
            wait_for_line(pool, "pool local starting", timeout=30)
            deadline = time.monotonic() + 300
            while metric(url, "tollgate_pool_replicas_running") < 1:
                assert time.monotonic() < deadline, "the pool did not wake"
                time.sleep(0.5)
            woken = metric(url, "tollgate_pool_cold_start_seconds_sum")
            assert metric(url, "tollgate_pool_cold_start_seconds_count") == 1

            wait_for_line(pool, "pool local replicas stopped", timeout=60)  # idle again
            asked = time.monotonic()
            answer = ask(url, key, "tiny")  # no fallback: waits for the pool, then it answers
            cold = time.monotonic() - asked
            assert answer.status_code == 200 and answer.headers["x-tollgate-backend"] == "local"
            assert answer.json()["usage"]["completion_tokens"] > 0
            assert metric(url, "tollgate_pool_cold_start_seconds_count") == 2
            measured = metric(url, "tollgate_pool_cold_start_seconds_sum") - woken
            print(f"\ncold start behind a fallback: {woken:.1f} s; waited for by the request: {measured:.1f} s"
                  f" (the client saw {cold:.1f} s)")  # fmt: skip
        pool.send_signal(signal.SIGTERM)
        assert pool.wait(90) == 0
    finally:
        if pool.poll() is None:
            pool.kill()
