"""Scale to zero with the replicas in someone else's hands (KEDA on Kubernetes), through a real
gateway process: fake vLLM replicas (tests/fakes/faulty_upstream.py) appear and disappear as the
autoscaler would make them. A request for the pool at zero waits ``max_cold_start_wait`` then gets a
503 with Retry-After; one with a fallback is served by it; the gateway's pending-request gauge says
the pool is wanted (what KEDA scales from zero on); once a replica is up the pool serves, its cold
start is measured, and after ``idle_after`` without requests it counts as asleep again."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import API_KEY
from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.sim_gateway import ADMIN_TOKEN
from tests.support.upstreams import Upstream, running_upstreams, start_upstream

PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00"}
ASK = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def config(pool_port: int, fallback: Upstream, workdir: Path) -> dict[str, Any]:
    pool = {
        "type": "vllm",
        "urls": [f"http://127.0.0.1:{pool_port}/v1"],
        "api_key": API_KEY,
        "min_replicas": 0,
        "idle_after": "2s",
        "max_cold_start_wait": 1.5,
    }
    return {
        "backends": {
            "gpu": pool,
            "fallback": {"type": "openai_compatible", "base_url": fallback.base_url, "api_key": API_KEY},
        },
        "models": [
            {"name": "pool-only", "deployments": [{"backend": "gpu", "model": "m"}], "pricing": PRICES},
            {
                "name": "with-fallback",
                "deployments": [{"backend": "gpu", "model": "m"}, {"backend": "fallback", "model": "m"}],
                "pricing": PRICES,
            },
        ],
        "routing": {"health_interval": 0.2},
        "admin_token": ADMIN_TOKEN,
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with running_upstreams(["fallback"], tmp_path_factory.mktemp("upstreams")) as running:
        yield running["fallback"]


def gauge(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(rf'^{name}\{{pool="gpu"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def ask(url: str, key: str, model: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": model, **ASK},
        headers={"authorization": f"Bearer {key}"},
        timeout=30,
    )


def sleep_state(url: str) -> dict[str, Any]:
    routing = httpx.get(f"{url}/admin/routing", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5).json()
    (gpu,) = [d for d in routing["deployments"] if d["name"] == "gpu"]
    sleep: dict[str, Any] = gpu["sleep"]
    return sleep


def until(condition: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def test_a_pool_at_zero_is_woken_by_demand_and_sleeps_when_idle(fallback: Upstream, tmp_path: Path) -> None:
    port = free_port()
    settings = config(port, fallback, tmp_path)
    key = create_key(settings, tmp_path, "scale-co")
    with running_gateway(settings, tmp_path) as url:
        assert httpx.get(f"{url}/readyz").status_code == 200  # a pool at zero wakes on demand: still ready

        started = time.monotonic()
        refused = ask(url, key, "pool-only")
        waited = time.monotonic() - started
        assert refused.status_code == 503 and refused.json()["error"]["code"] == "overloaded"
        assert refused.headers["retry-after"] == "2" and 1.5 <= waited < 5
        assert "did not wake within 1.5 s" in refused.json()["error"]["message"]

        served = ask(url, key, "with-fallback")
        assert served.status_code == 200 and served.headers["x-tollgate-backend"] == "fallback"
        assert gauge(url, "tollgate_pool_pending_requests") == 1  # waking: KEDA's cue to scale from zero
        assert gauge(url, "tollgate_pool_replicas_running") == 0
        assert sleep_state(url)["phase"] == "waking"

        replica = start_upstream("gpu-0", tmp_path, port)  # what KEDA would do
        try:
            answered = ask(url, key, "pool-only")
            assert answered.status_code == 200 and answered.headers["x-tollgate-backend"] == "gpu"
            assert gauge(url, "tollgate_pool_replicas_running") == 1
            assert gauge(url, "tollgate_pool_cold_start_seconds_count") >= 1
            assert gauge(url, "tollgate_pool_pending_requests") == 0
            until(lambda: gauge(url, "tollgate_pool_replicas_running") == 0)  # idle 2 s: asleep
            asleep = sleep_state(url)
            assert asleep["phase"] == "asleep" and asleep["last_cold_start_seconds"] > 0
        finally:
            replica.process.terminate()
            replica.process.wait(10)
        served = ask(url, key, "with-fallback")
        assert served.status_code == 200 and served.headers["x-tollgate-backend"] == "fallback"
