"""The scale-out benchmark's exactness checks: a rate-limit burst, usage rows, metric totals."""

from __future__ import annotations

import asyncio

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.bench.procs import HOST


async def burst(port: int, key: str, count: int, model: str) -> list[int]:
    """``count`` requests at once, each on its own connection, so the load balancer spreads them."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    headers = {"authorization": f"Bearer {key}"}
    url = f"http://{HOST}:{port}/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=count, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one() -> int:
            async with http.post(url, json=body, headers=headers) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one() for _ in range(count))))


async def usage_rows(database_url: str) -> int:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text("SELECT count(*) FROM usage_events"))).scalar_one())
    finally:
        await engine.dispose()


async def bytes_per_usage_row(database_url: str) -> float:
    """Disk taken by ``usage_events`` (table, indexes, TOAST) per row, for the capacity model."""
    query = "SELECT pg_total_relation_size('usage_events')::float / greatest(count(*), 1) FROM usage_events"
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return float((await connection.execute(text(query))).scalar_one())
    finally:
        await engine.dispose()


async def metric_total(http: aiohttp.ClientSession, port: int) -> tuple[int, int]:
    """One gateway's ``tollgate_requests_total`` for status 200 and for status 429."""
    async with http.get(f"http://{HOST}:{port}/metrics") as response:
        exposition = await response.text()
    totals = {"200": 0.0, "429": 0.0}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "tollgate_requests_total" and sample.labels.get("status") in totals:
                totals[sample.labels["status"]] += sample.value
    return int(totals["200"]), int(totals["429"])
