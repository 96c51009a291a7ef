"""Every request the gateway answers is metered once, priced exactly, and reaches the database."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.usage_events import count_events, wait_for_event

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def client(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


@pytest.fixture
def database(gateway_workdir: Path) -> Path:
    return gateway_workdir / "tollgate.db"


def test_cost_is_in_the_header_the_body_and_the_event(client: openai.OpenAI, database: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-fake", messages=USER)  # type: ignore[arg-type]
    completion = raw.parse()
    assert raw.headers["x-tollgate-cost-usd"] == "0.000098"  # 11 × $2.50/M + 7 × $10/M, rounded half up
    assert raw.headers["x-tollgate-cache"] == "miss"
    assert completion.usage is not None and completion.usage.model_extra == {"cost": 0.000098}
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["outcome"], event["status"], event["cost_micros"]) == ("ok", 200, 98)
    assert (event["input_tokens"], event["output_tokens"], event["model"]) == (11, 7, "gpt-fake")
    assert event["deployment"] == "fake-openai" and event["price_book_version"] >= 1
    assert event["streamed"] == 0 and event["latency_ms"] > 0


def test_cached_and_reasoning_tokens_are_priced_apart(client: openai.OpenAI, database: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "trigger:cached"}]
    )
    # 3 × 2.50 + 8 × 1.25 + (5 + 2 reasoning) × 10.00 = 7.5 + 10 + 70 = 87.5 → 88
    assert raw.headers["x-tollgate-cost-usd"] == "0.000088"
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["input_tokens"], event["cached_input_tokens"], event["output_tokens"], event["reasoning_tokens"]) == (
        3,
        8,
        5,
        2,
    )


def test_stream_usage_chunk_carries_the_cost(client: openai.OpenAI, database: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=USER, stream=True, stream_options={"include_usage": True}
    )  # type: ignore[arg-type]
    chunks = list(raw.parse())
    usage = chunks[-1].usage
    assert usage is not None and usage.model_extra == {"cost": 0.000098}
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert (event["outcome"], event["cost_micros"], event["streamed"]) == ("ok", 98, 1)
    assert event["ttft_ms"] is not None and event["ttft_ms"] <= event["latency_ms"]


def test_stream_without_usage_request_is_still_metered(client: openai.OpenAI, database: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-fake", messages=USER, stream=True)  # type: ignore[arg-type]
    assert all(chunk.usage is None for chunk in raw.parse())
    assert wait_for_event(database, raw.headers["x-request-id"])["cost_micros"] == 98


def test_upstream_error_is_recorded_at_no_cost(gateway_url: str, api_key: str, database: Path) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": "gpt-fake", "messages": [{"role": "user", "content": "trigger:status:503"}]},
    )
    assert response.status_code == 503
    event = wait_for_event(database, response.headers["x-request-id"])
    assert (event["outcome"], event["status"], event["cost_micros"]) == ("upstream_error", 503, 0)


def test_refused_requests_leave_no_event(gateway_url: str, api_key: str, database: Path) -> None:
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        headers={"authorization": f"Bearer {api_key}"},
        json={"model": "gpt-fake", "messages": []},
    )
    assert response.status_code == 400
    time.sleep(0.5)  # longer than the drain interval
    assert count_events(database, response.headers["x-request-id"]) == 0


async def test_client_disconnect_bills_what_was_generated(gateway_url: str, api_key: str, database: Path) -> None:
    async with (
        httpx.AsyncClient(headers={"authorization": f"Bearer {api_key}"}) as http,
        http.stream(
            "POST",
            f"{gateway_url}/v1/chat/completions",
            json={"model": "gpt-fake", "stream": True, "messages": [{"role": "user", "content": "trigger:stall"}]},
        ) as response,
    ):
        request_id = response.headers["x-request-id"]
        seen = 0
        async for line in response.aiter_lines():
            seen += line.startswith("data:")
            if seen == 3:  # role chunk, "Hello", " from": then the upstream stalls and we leave
                break
    event = await asyncio.to_thread(wait_for_event, database, request_id)
    assert (event["outcome"], event["status"]) == ("client_disconnect", 499)
    # No usage chunk ever came: "Hello from" counted with tiktoken (2 tokens), the prompt estimated.
    assert event["output_tokens"] == 2 and event["input_tokens"] > 0
    expected = Decimal(event["input_tokens"]) * Decimal("2.50") + 2 * Decimal(10)
    assert event["cost_micros"] == int(expected.quantize(Decimal(1), rounding="ROUND_HALF_UP"))


def test_unpriced_model_costs_zero_but_counts_tokens(client: openai.OpenAI, database: Path) -> None:
    raw = client.chat.completions.with_raw_response.create(model="sim-chat", messages=USER, max_tokens=5)  # type: ignore[arg-type]
    assert raw.headers["x-tollgate-cost-usd"] == "0.000000"
    event = wait_for_event(database, raw.headers["x-request-id"])
    assert event["output_tokens"] == 5 and event["cost_micros"] == 0


def _rollup(database: Path, model: str) -> tuple[Any, ...]:
    import sqlite3

    with sqlite3.connect(database) as connection:
        return tuple(
            connection.execute(
                "SELECT sum(requests), sum(cost_micros) FROM usage_rollups WHERE model = ?", (model,)
            ).fetchone()
        )


def test_rollups_sum_the_events(client: openai.OpenAI, database: Path) -> None:
    ids = [
        client.embeddings.with_raw_response.create(model="embed-fake", input="x").headers["x-request-id"]
        for _ in range(3)
    ]
    for request_id in ids:
        wait_for_event(database, request_id)
    import sqlite3

    with sqlite3.connect(database) as connection:
        events = connection.execute(
            "SELECT count(*), coalesce(sum(cost_micros), 0) FROM usage_events WHERE model = 'embed-fake'"
        ).fetchone()
    assert _rollup(database, "embed-fake") == tuple(events)


def test_with_metering_off_nothing_is_recorded(tmp_path: Path) -> None:
    from tests.support.gateway_process import running_gateway

    config = {
        "backends": {"sim": {"type": "simulator"}},
        "models": [
            {
                "name": "sim-chat",
                "deployments": [{"backend": "sim", "model": "sim"}],
                "pricing": {"output_per_mtok": "1000000"},
            }
        ],
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'tollgate.db'}",
        "journal_dir": str(tmp_path / "journal"),
        "anonymous_customer": "bench",
        "meter_usage": False,
    }
    with running_gateway(config, tmp_path) as url:
        response = httpx.post(f"{url}/v1/chat/completions", json={"model": "sim-chat", "messages": USER})
        assert response.status_code == 200 and response.headers["x-tollgate-cost-usd"] != "0.000000"
        time.sleep(0.5)
    assert not (tmp_path / "journal").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "tollgate.db") as connection:
        assert connection.execute("SELECT count(*) FROM usage_events").fetchone() == (0,)
