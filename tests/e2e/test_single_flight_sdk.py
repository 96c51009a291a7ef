"""Single-flight through a running gateway, asked with the real OpenAI Python SDK: identical
deterministic requests in flight at once are answered by one upstream call, the others as cache
hits, streams included (the followers replay the leader's stream as it arrives)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.gateway_process import create_key, running_gateway

PRICES = {"input_per_mtok": "2.50", "output_per_mtok": "10.00", "cached_input_per_mtok": "1.25"}
QUESTION = [{"role": "user", "content": "Tell me a story about a lighthouse keeper"}]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    workdir = tmp_path_factory.mktemp("single-flight")
    settings = {
        # Slow enough that requests sent together are all in flight at once.
        "backends": {"sim": {"type": "simulator", "ttft_ms": 300, "inter_token_ms": 20}},
        "models": [
            {"name": "cached", "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICES, "cache": {}}
        ],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
    }
    key = create_key(settings, workdir, "acme")
    with running_gateway(settings, workdir) as url:
        yield url, key, workdir / "tollgate.db"


async def _streams(url: str, key: str, times: int) -> list[tuple[str, str, Any]]:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)

    async def one() -> tuple[str, str, Any]:
        raw = await client.chat.completions.with_raw_response.create(
            model="cached", messages=QUESTION, temperature=0, stream=True, stream_options={"include_usage": True}
        )
        text, usage = "", None
        async for event in raw.parse():
            text += "".join(choice.delta.content or "" for choice in event.choices)
            usage = event.usage or usage
        return raw.headers["x-tollgate-cache"], text, usage

    async with client:
        return await asyncio.gather(*(one() for _ in range(times)))


def test_identical_streams_in_flight_make_one_upstream_call(gateway: tuple[str, str, Path]) -> None:
    url, key, _ = gateway
    answers = asyncio.run(_streams(url, key, 5))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == ["hit"] * 4 + ["miss"]
    texts = {text for _, text, _ in answers}
    assert len(texts) == 1 and next(iter(texts))
    leader = next(usage for status, _, usage in answers if status == "miss")
    for status, _, usage in answers:
        assert usage.prompt_tokens == leader.prompt_tokens and usage.completion_tokens == leader.completion_tokens
        if status == "hit":
            assert usage.model_extra["cost"] < leader.model_extra["cost"]  # the hit price


def test_a_whole_request_follows_a_stream_in_flight(gateway: tuple[str, str, Path]) -> None:
    url, key, _ = gateway

    async def both() -> tuple[Any, Any]:
        client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        async with client:
            question = [{"role": "user", "content": f"Another question {time.time()}"}]
            streamed = client.chat.completions.create(model="cached", messages=question, temperature=0, stream=True)
            stream = await streamed
            whole = asyncio.ensure_future(
                client.chat.completions.with_raw_response.create(model="cached", messages=question, temperature=0)
            )
            text = ""
            async for event in stream:
                text += "".join(choice.delta.content or "" for choice in event.choices)
            return text, await whole

    text, whole = asyncio.run(both())
    assert whole.headers["x-tollgate-cache"] == "hit"
    assert whole.parse().choices[0].message.content == text
