"""What answers cost the operator, end to end on Postgres: a gateway serving an external model with
list prices (``cost``) and a self-hosted pool with a ``gpu_hour_usd``. Customers' answers carry
nothing of it; ``GET /admin/usage`` shows the serving cost and the margin; ``tollgate rollups settle``
settles the pool's closed hour; the dashboard's margin page shows both, in a real browser."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai

from gateway.metering.ingest import ingest
from gateway.metering.pool_hours import Reading, record
from tests.support.browser import chromium, sign_in, table_rows
from tests.support.databases import migrated_database, open_sessions
from tests.support.gateway_process import create_key, running_gateway
from tests.support.ports import free_port
from tests.support.usage_records import usage_record

TOKEN = "admin-" + uuid.uuid4().hex
SCREENSHOT = os.environ.get("TOLLGATE_MARGIN_SCREENSHOT")  # where to save the page (docs/dashboard/margin.png)


def config(database: str, workdir: Path) -> dict[str, Any]:
    dead = f"http://127.0.0.1:{free_port()}/v1"  # the pool's server is not running: its hour is seeded
    return {
        "backends": {
            "provider": {"type": "simulator"},
            "gpu-pool": {"type": "vllm", "urls": [dead], "gpu_hour_usd": "2.50"},
        },
        "models": [
            {
                "name": "gpt-x",
                "deployments": [{"backend": "provider", "model": "sim"}],
                "pricing": {"input_per_mtok": "5", "output_per_mtok": "15"},
                "cost": {"input_per_mtok": "2.5", "output_per_mtok": "10"},
            },
            {
                "name": "llama",
                "deployments": [{"backend": "gpu-pool", "model": "llama"}],
                "pricing": {"input_per_mtok": "1", "output_per_mtok": "1"},
            },
        ],
        "database_url": database,
        "admin_token": TOKEN,
        "journal_dir": str(workdir / "journal"),
    }


def chat(url: str, key: str) -> httpx.Response:
    """One chat through the OpenAI SDK, and the raw answer it read."""
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=key)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-x", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert completion.usage is not None and completion.usage.total_tokens > 0
    return raw.http_response


def usage(url: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/admin/usage", params={"group_by": "model"}, headers={"authorization": f"Bearer {TOKEN}"})
    rows: list[dict[str, Any]] = answer.raise_for_status().json()["data"]
    return rows


def wait_for_usage(url: str, requests: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rows = usage(url)
        if sum(row["requests"] for row in rows) >= requests:
            return rows
        time.sleep(0.2)
    raise AssertionError(f"the journal stored no {requests} requests: {usage(url)}")


async def seed_pool_hour(database: str, hour: dt.datetime) -> None:
    """Half an hour of one replica running, busy a third of it, and three requests to the pool."""
    async with open_sessions(database) as sessions:
        for minute in range(0, 30, 10):
            async with sessions.begin() as session:
                busy = 1 if minute == 0 else 0
                await record(session, [Reading("gpu-pool", 1, busy)], hour + dt.timedelta(minutes=minute), 600.0)
        records = [
            usage_record(f"pool-{i}", customer_id=1, api_key_id=1, model="llama", deployment="gpu-pool",
                         created_at=hour.timestamp() + 60 * i, latency_ms=100.0 * (i + 1), input_tokens=400,
                         output_tokens=200, cost_micros=250_000)
            for i in range(3)
        ]  # fmt: skip
        async with sessions.begin() as session:
            await ingest(session, records)


def settle(workdir: Path) -> str:
    command = [sys.executable, "-m", "gateway", "rollups", "settle", "--config", str(workdir / "tollgate.yaml")]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


async def test_margin_is_the_operators_and_customers_see_none_of_it(tmp_path: Path) -> None:
    async with migrated_database("postgres", tmp_path) as database:
        cfg = config(database, tmp_path)
        key = create_key(cfg, tmp_path, "acme")
        with running_gateway(cfg, tmp_path, env={"TOLLGATE_ADMIN_TOKEN": ""}) as url:
            answers = [await asyncio.to_thread(chat, url, key) for _ in range(3)]
            for answer in answers:  # the customer's answer: the price, nothing of the operator's cost
                assert not [h for h in answer.headers if "serving" in h or "margin" in h]
                assert b"serving" not in answer.content and b"margin" not in answer.content
                answered = answer.json()["usage"]
                assert set(answered) <= {"prompt_tokens", "completion_tokens", "total_tokens", "cost",
                                         "prompt_tokens_details", "completion_tokens_details"}  # fmt: skip
                # usage.cost is the charge (the customer's price), never the operator's cost
                assert f"{answered['cost']:.6f}" == answer.headers["x-tollgate-cost-usd"]
                price = 5 * answered["prompt_tokens"] + 15 * answered["completion_tokens"]
                assert round(answered["cost"] * 1e6) == price
            [row] = await asyncio.to_thread(wait_for_usage, url, 3)
            tokens_in, tokens_out = row["input_tokens"], row["output_tokens"]
            assert row["cost_micros"] == 5 * tokens_in + 15 * tokens_out
            listed = [(a.json()["usage"]["prompt_tokens"], a.json()["usage"]["completion_tokens"]) for a in answers]
            # list prices, each request rounded half up to the micro-dollar
            assert row["serving_cost_micros"] == sum(int(2.5 * p + 0.5) + 10 * c for p, c in listed)
            assert row["margin_micros"] == row["cost_micros"] - row["serving_cost_micros"] > 0
            charged = [answer.headers["x-tollgate-cost-usd"] for answer in answers]
            assert sum(int(c.replace(".", "")) for c in charged) == row["cost_micros"]

            hour = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
            await seed_pool_hour(database, hour)
            settled = await asyncio.to_thread(settle, tmp_path)
            # one replica for 30 minutes at $2.50 an hour; busy 10 of them by vLLM's metrics
            assert "gpu-pool" in settled and "bill 1.250000 USD, idle 0.833333 USD, 3 requests" in settled
            by_model = {r["group"]: r for r in usage(url)}
            assert by_model["llama"]["serving_cost_micros"] == 1_250_000 - 833_333 == 416_667
            assert by_model["llama"]["margin_micros"] == 750_000 - 416_667

            async with chromium() as browser:
                page = await browser.new_page(viewport={"width": 1200, "height": 1250})
                await sign_in(page, url, TOKEN)
                await page.goto(f"{url}/dashboard/margin?range=24h")
                models = await table_rows(page, "margin-by-model")
                pools = await table_rows(page, "pools")
                if SCREENSHOT:
                    await page.screenshot(path=SCREENSHOT, full_page=True)
    assert models["gpt-x"][1:4] == [
        f"{row['cost_micros'] / 1e6:.6f}",
        f"{row['serving_cost_micros'] / 1e6:.6f}",
        f"{row['margin_micros'] / 1e6:.6f}",
    ]
    assert models["llama"][1:4] == ["0.750000", "0.416667", "0.333333"]
    assert pools["gpu-pool"] == ["1", "0.50", "33.3", "1.250000", "0.833333", "1800", "0.694444"]
