"""Micro-batched embeddings through a running gateway, asked with the real OpenAI Python SDK.

The upstream serves one call at a time (tests/fakes/serial_embedder.py) and counts its calls:
concurrent requests for a model with ``batching`` reach it as fewer calls, and each client gets
exactly what a direct call to the upstream gives it, with its own share of the upstream's usage.
"""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.serial_embedder import BAD_INPUT, app, tokens_of
from tests.fakes.threaded import serve_in_thread
from tests.support.gateway_process import create_key, running_gateway

PRICES = {"input_per_mtok": "0.10"}
WINDOW = {"max_wait_ms": 100, "max_batch": 64}


def _model(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "embeddings",
        "deployments": [{"backend": "gpu", "model": "embedder"}],
        "pricing": PRICES,
        **extra,
    }


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    with serve_in_thread(app(call_ms=30)) as root:
        yield root


@pytest.fixture(scope="module")
def gateway(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    workdir = tmp_path_factory.mktemp("batching")
    settings = {
        "backends": {"gpu": {"type": "openai_compatible", "base_url": f"{upstream}/v1", "api_key": "sk-up"}},
        "models": [
            _model("batched", batching=WINDOW),
            _model("long-window", batching={"max_wait_ms": 600, "max_batch": 64}),
            _model("cached", cache={"exact": True}),
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }
    key = create_key(settings, workdir, "acme")
    with running_gateway(settings, workdir) as url:
        yield url, key


def calls(upstream: str) -> int:
    return int(httpx.get(f"{upstream}/_stats").json()["calls"])


def reset(upstream: str) -> None:
    httpx.post(f"{upstream}/_reset").raise_for_status()


REQUESTS: list[dict[str, Any]] = [
    {"input": f"sentence number {i} about the weather in town {i * 7}"} for i in range(12)
] + [
    {"input": ["first of two", "second of two, a little longer than the first"]},
    {"input": "asked as floats", "encoding_format": "float"},
    {"input": [[101, 2023, 2003, 102], [7, 8]]},
    {"input": "a narrower vector", "dimensions": 4},
]


async def _ask_all(base_url: str, key: str, model: str) -> list[Any]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
    async with client:
        return await asyncio.gather(*(client.embeddings.create(model=model, **r) for r in REQUESTS))


def test_concurrent_requests_go_upstream_batched_and_each_gets_a_direct_calls_answer(
    gateway: tuple[str, str], upstream: str
) -> None:
    url, key = gateway
    reset(upstream)
    answers = asyncio.run(_ask_all(f"{url}/v1", key, "batched"))
    batched_calls = calls(upstream)
    # 16 requests in three upstream shapes (text, tokens, 4 dimensions): three calls when all arrive
    # within the window, a few more on a loaded machine; one each without batching.
    assert 3 <= batched_calls < len(REQUESTS) // 2
    direct = asyncio.run(_ask_all(f"{upstream}/v1", "sk-up", "embedder"))
    for request, mine, theirs in zip(REQUESTS, answers, direct, strict=True):
        assert [d.embedding for d in mine.data] == [d.embedding for d in theirs.data], request
        assert [d.index for d in mine.data] == list(range(len(theirs.data)))
        assert mine.model == "batched"
    inputs = [i for r in REQUESTS for i in (r["input"] if isinstance(r["input"], list) else [r["input"]])]
    assert sum(a.usage.prompt_tokens for a in answers) == sum(tokens_of(i) for i in inputs)
    assert all(a.usage.prompt_tokens == a.usage.total_tokens > 0 for a in answers)


async def _with_a_bad_neighbour(base_url: str, key: str) -> list[Any]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
    async with client:
        asks = [client.embeddings.create(model="batched", input=t) for t in ("alpha", "beta", BAD_INPUT, "gamma")]
        return await asyncio.gather(*asks, return_exceptions=True)


def test_one_bad_input_fails_only_its_own_request(gateway: tuple[str, str]) -> None:
    url, key = gateway
    results = asyncio.run(_with_a_bad_neighbour(f"{url}/v1", key))
    assert isinstance(results[2], openai.BadRequestError)
    for result in results[:2] + results[3:]:
        assert not isinstance(result, BaseException)
        assert len(result.data) == 1 and result.usage.prompt_tokens >= 1


def test_the_float_answer_is_the_base64_answer(gateway: tuple[str, str]) -> None:
    url, key = gateway
    body = {"model": "batched", "input": "same text", "encoding_format": "base64"}
    auth = {"authorization": f"Bearer {key}"}
    encoded = httpx.post(f"{url}/v1/embeddings", json=body, headers=auth).json()["data"][0]["embedding"]
    plain = httpx.post(f"{url}/v1/embeddings", json={**body, "encoding_format": "float"}, headers=auth).json()
    raw = base64.b64decode(encoded)
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == plain["data"][0]["embedding"]


def test_a_repeated_embeddings_request_is_answered_from_the_cache(gateway: tuple[str, str], upstream: str) -> None:
    url, key = gateway
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    first = client.embeddings.with_raw_response.create(model="cached", input=["cache me", "and me"])
    assert first.headers["x-tollgate-cache"] == "miss"
    reset(upstream)
    for _ in range(30):  # the answer is stored just after it is sent
        again = client.embeddings.with_raw_response.create(model="cached", input=["cache me", "and me"])
        if again.headers["x-tollgate-cache"] == "hit":
            break
    assert again.headers["x-tollgate-cache"] == "hit"
    assert calls(upstream) < 30 and again.headers["x-tollgate-backend"] == "cache"
    assert [d.embedding for d in again.parse().data] == [d.embedding for d in first.parse().data]
    assert again.parse().usage.prompt_tokens == first.parse().usage.prompt_tokens
    other = client.embeddings.with_raw_response.create(model="cached", input=["cache me"])
    assert other.headers["x-tollgate-cache"] == "miss"


async def _same_request(base_url: str, key: str, times: int) -> list[Any]:
    client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0)
    async with client:
        asks = [client.embeddings.with_raw_response.create(model="cached", input="all at once") for _ in range(times)]
        return await asyncio.gather(*asks)


def test_identical_requests_in_flight_make_one_upstream_call(gateway: tuple[str, str], upstream: str) -> None:
    url, key = gateway
    reset(upstream)
    answers = asyncio.run(_same_request(f"{url}/v1", key, 8))
    assert calls(upstream) == 1
    statuses = sorted(a.headers["x-tollgate-cache"] for a in answers)
    assert statuses == ["hit"] * 7 + ["miss"]
    vectors = {tuple(a.parse().data[0].embedding) for a in answers}
    assert len(vectors) == 1


def test_a_client_that_leaves_during_the_window_leaves_the_batch_without_breaking_it(
    gateway: tuple[str, str], upstream: str
) -> None:
    url, key = gateway
    reset(upstream)

    async def three() -> list[Any]:
        auth = {"authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=10) as http:

            async def ask(text: str, timeout: float = 10) -> Any:
                body = {"model": "long-window", "input": text}
                return await http.post("/v1/embeddings", json=body, timeout=timeout)

            leaving = ask("I will not wait", timeout=0.2)
            return await asyncio.gather(leaving, ask("stay one"), ask("stay two"), return_exceptions=True)

    left, *stayed = asyncio.run(three())
    assert isinstance(left, httpx.TimeoutException)
    assert [r.status_code for r in stayed] == [200, 200]
    assert httpx.get(f"{upstream}/_stats").json() == {"calls": 1, "inputs": 2}
