"""Routing under faults, through a real gateway in front of several real upstream processes.

Where a fallback exists the OpenAI SDK (with its own retries off) sees no error at all.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_server import API_KEY
from tests.support.gateway_process import create_key, running_gateway
from tests.support.upstreams import Upstream, running_upstreams
from tests.support.usage_events import wait_for_event

NAMES = ["a", "b", "backup", "limited", "queued", "k1", "k2"]
ADMIN = {"authorization": "Bearer admin-secret"}
USER = [{"role": "user", "content": "hello"}]


def routing_config(up: dict[str, Upstream], workdir: Path) -> dict[str, Any]:
    def pool(*names: str, **extra: Any) -> dict[str, Any]:
        urls = [up[n].base_url for n in names]
        return {"type": "vllm", "urls": urls, "api_key": API_KEY, **extra}

    def provider(name: str, region: str) -> dict[str, Any]:
        return {"type": "openai_compatible", "base_url": up[name].base_url, "api_key": API_KEY, "region": region}

    impatient = {"connect": 1, "read": 1.5, "first_token": 0.5}
    return {
        "backends": {
            "pool": pool("a", "b", timeouts=impatient),
            "backup": provider("backup", "us"),
            "limited": provider("limited", "eu"),
            "queued": pool("queued", max_outstanding=1, max_queue_wait=0.5),
            "killable": pool("k1", "k2"),
        },
        "models": [
            {"name": "chat", "deployments": [{"backend": "pool", "model": "m"}, {"backend": "backup", "model": "m"}]},
            {"name": "pool-only", "deployments": [{"backend": "pool", "model": "m"}]},
            {
                "name": "provider",
                "deployments": [{"backend": "limited", "model": "m"}, {"backend": "backup", "model": "m"}],
            },
            {"name": "provider-only", "deployments": [{"backend": "limited", "model": "m"}]},
            {"name": "queued", "deployments": [{"backend": "queued", "model": "m"}]},
            {"name": "killable", "deployments": [{"backend": "killable", "model": "m"}]},
            {
                "name": "canaried",
                "deployments": [{"backend": "backup", "model": "m"}],
                "rollout": {"backend": "limited", "model": "m", "share": 0.5, "min_requests": 5, "window": 20},
            },
        ],
        "routing": {
            "retry": {"attempts": 2, "backoff": 0.01, "max_retry_after": 2},
            "breaker": {"failures": 3, "cooldown": 60},
            "health_interval": 0.2,
            "metrics_interval": 0.1,
            "regions": {"eu": ["us"], "us": ["eu"]},
        },
        "admin_token": "admin-secret",
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Upstream]]:
    with running_upstreams(NAMES, tmp_path_factory.mktemp("upstreams")) as running:
        yield running


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("routing-gateway")


@pytest.fixture(scope="module")
def gateway(upstreams: dict[str, Upstream], workdir: Path) -> Iterator[tuple[str, str]]:
    config = routing_config(upstreams, workdir)
    key = create_key(config, workdir, "routing")
    with running_gateway(config, workdir) as url:
        yield url, key


@pytest.fixture(autouse=True)
def no_faults(upstreams: dict[str, Upstream]) -> None:
    for upstream in upstreams.values():
        if upstream.process.poll() is None:
            upstream.faults()


@pytest.fixture
def client(gateway: tuple[str, str]) -> openai.OpenAI:
    url, key = gateway
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def post(gateway: tuple[str, str], model: str, **extra: Any) -> httpx.Response:
    url, key = gateway
    headers = {"authorization": f"Bearer {key}", **extra.pop("headers", {})}
    body = {"model": model, "messages": extra.pop("messages", USER), **extra}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=20)


def routing_state(gateway: tuple[str, str]) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{gateway[0]}/admin/routing", headers=ADMIN, timeout=5).json()
    return state


def test_a_burst_of_500s_is_retried_on_the_other_replica_and_opens_the_circuit(
    client: openai.OpenAI, gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    upstreams["a"].faults(fail=1000, status=500)
    for _ in range(8):
        answer = client.chat.completions.create(model="pool-only", messages=USER)  # type: ignore[arg-type]
        assert answer.choices[0].message.content
    pool = next(d for d in routing_state(gateway)["deployments"] if d["name"] == "pool")
    circuits = {r["key"]: r["circuit"] for r in pool["replicas"]}
    assert circuits == {upstreams["a"].base_url: "open", upstreams["b"].base_url: "closed"}
    served_by_a = upstreams["a"].requests()
    client.chat.completions.create(model="pool-only", messages=USER)  # type: ignore[arg-type]
    assert upstreams["a"].requests() == served_by_a  # an open circuit gets no traffic


def test_a_slow_replica_misses_its_first_token_deadline_and_the_other_answers(
    client: openai.OpenAI, upstreams: dict[str, Upstream]
) -> None:
    upstreams["b"].faults(slow=3)
    upstreams["a"].faults(slow=3)
    upstreams["backup"].faults()
    started = time.monotonic()
    chunks = list(client.chat.completions.create(model="chat", messages=USER, stream=True))  # type: ignore[call-overload]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the fake OpenAI upstream."
    # two tries on the pool at 0.5 s each, then the hosted fallback; waiting out a slow answer takes 3 s
    assert time.monotonic() - started < 3.0


def test_malformed_stream_before_the_first_byte_falls_back(
    gateway: tuple[str, str], client: openai.OpenAI, upstreams: dict[str, Upstream]
) -> None:
    upstreams["a"].faults(malformed=True)
    upstreams["b"].faults(malformed=True)
    url, key = gateway
    with httpx.stream(
        "POST",
        f"{url}/v1/chat/completions",
        json={"model": "chat", "messages": USER, "stream": True},
        headers={"authorization": f"Bearer {key}"},
        timeout=20,
    ) as response:
        body = response.read().decode()
    assert response.status_code == 200 and response.headers["x-tollgate-backend"] == "backup"
    assert body.rstrip().endswith("data: [DONE]")


def test_a_stream_that_stalls_after_its_first_bytes_ends_with_an_error_and_is_not_retried(
    client: openai.OpenAI, upstreams: dict[str, Upstream]
) -> None:
    upstreams["a"].faults(stall=True)
    upstreams["b"].faults(stall=True)
    before = upstreams["a"].requests() + upstreams["b"].requests() + upstreams["backup"].requests()
    received: list[str] = []
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="pool-only", messages=USER, stream=True):  # type: ignore[call-overload]
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["Hello", " there"]  # relayed, then the idle timeout ended the stream
    after = upstreams["a"].requests() + upstreams["b"].requests() + upstreams["backup"].requests()
    assert after == before + 1  # bytes had reached the client: no retry, no fallback


def test_429_with_a_short_retry_after_is_waited_for_and_retried(
    gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    upstreams["limited"].faults(rate_limit=1, retry_after="1")
    started = time.monotonic()
    response = post(gateway, "provider-only")
    assert response.status_code == 200 and response.headers["x-tollgate-backend"] == "limited"
    assert time.monotonic() - started >= 1.0


def test_429_with_a_long_retry_after_falls_back_at_once_or_reaches_the_client(
    gateway: tuple[str, str], upstreams: dict[str, Upstream], workdir: Path
) -> None:
    upstreams["limited"].faults(rate_limit=2, retry_after="30")
    started = time.monotonic()
    response = post(gateway, "provider")
    assert response.status_code == 200 and response.headers["x-tollgate-backend"] == "backup"
    assert time.monotonic() - started < 5  # not the 30 s asked for
    event = wait_for_event(workdir / "tollgate.db", response.headers["x-request-id"])
    assert (event["deployment"], event["outcome"], event["model"]) == ("backup", "ok", "provider")
    # no fallback: the client gets the 429 and the provider's Retry-After
    refused = post(gateway, "provider-only")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "30"
    assert refused.headers["x-tollgate-backend"] == "limited"


def test_context_length_overflow_falls_back_to_a_longer_context(
    gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    upstreams["limited"].faults(context_limit=40)
    short = post(gateway, "provider")
    assert short.headers["x-tollgate-backend"] == "limited"
    long = post(gateway, "provider", messages=[{"role": "user", "content": "tell me everything " * 10}])
    assert long.status_code == 200 and long.headers["x-tollgate-backend"] == "backup"


def test_requests_wait_for_a_saturated_pool_and_get_503_after_the_maximum_wait(
    gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    upstreams["queued"].faults(slow=0.1)
    with concurrent.futures.ThreadPoolExecutor(2) as workers:
        # one at a time fits: the second waits for the first, well within the 0.5 s allowed
        quick = list(workers.map(lambda _: post(gateway, "queued").status_code, range(2)))
    assert quick == [200, 200]
    upstreams["queued"].faults(slow=2)
    with concurrent.futures.ThreadPoolExecutor(3) as workers:
        answers = list(workers.map(lambda _: post(gateway, "queued"), range(3)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 503, 503]
    refused = next(a for a in answers if a.status_code == 503)
    assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "overloaded"


def test_the_region_of_the_request_is_preferred_and_fails_over_to_the_nearest(
    gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    assert post(gateway, "provider").headers["x-tollgate-backend"] == "limited"  # configured order
    us = post(gateway, "provider", headers={"x-tollgate-region": "us"})
    assert us.headers["x-tollgate-backend"] == "backup"
    upstreams["backup"].faults(fail=2, status=503)
    failed_over = post(gateway, "provider", headers={"x-tollgate-region": "us"})
    assert failed_over.status_code == 200 and failed_over.headers["x-tollgate-backend"] == "limited"


def test_a_slow_canary_is_rolled_back_by_itself(
    client: openai.OpenAI, gateway: tuple[str, str], upstreams: dict[str, Upstream]
) -> None:
    upstreams["limited"].faults(slow=0.3)  # the stable deployment answers in milliseconds
    for _ in range(40):
        client.chat.completions.create(model="canaried", messages=USER)  # type: ignore[arg-type]
    (rollout,) = routing_state(gateway)["rollouts"]
    assert rollout["state"] == "rolled_back" and rollout["share"] == 0.0
    assert rollout["reason"].startswith("automatic: p99 latency")
    assert rollout["canary_requests"] >= 5 and rollout["canary_p99_ms"] >= 300
    hits = upstreams["limited"].requests()
    for _ in range(10):
        client.chat.completions.create(model="canaried", messages=USER)  # type: ignore[arg-type]
    assert upstreams["limited"].requests() == hits
    url, _ = gateway
    promoted = httpx.post(f"{url}/admin/models/canaried/rollout/promote", headers=ADMIN, timeout=5).json()
    assert (promoted["state"], promoted["share"]) == ("promoted", 1.0)
    upstreams["limited"].faults()
    assert post(gateway, "canaried").headers["x-tollgate-backend"] == "limited"
    missing = httpx.post(f"{url}/admin/models/chat/rollout/rollback", headers=ADMIN, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "rollout_not_found"


def test_a_replica_killed_under_load_costs_no_request(client: openai.OpenAI, upstreams: dict[str, Upstream]) -> None:
    upstreams["k1"].faults(slow=0.2)
    upstreams["k2"].faults(slow=0.2)

    def ask(_: int) -> str:
        answer = client.chat.completions.create(model="killable", messages=USER)  # type: ignore[arg-type]
        return answer.choices[0].message.content or ""

    with concurrent.futures.ThreadPoolExecutor(8) as workers:
        running = [workers.submit(ask, i) for i in range(60)]
        time.sleep(0.5)
        os.kill(upstreams["k1"].process.pid, signal.SIGKILL)
        answers = [future.result() for future in running]
    assert all(answers) and len(answers) == 60
    assert upstreams["k2"].requests() > 30
