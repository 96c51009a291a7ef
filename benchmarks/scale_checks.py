"""The scale-out benchmark's exactness checks: a rate-limit burst, a response cache shared by the
replicas, usage rows, metric totals."""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any, NamedTuple

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.procs import HOST
from benchmarks.scale_stack import require


class Answer(NamedTuple):
    status: int
    cache: str | None  # x-tollgate-cache
    request_id: str | None


def chat(model: str, prompt: str = "hi", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 4, **extra}


async def burst(port: int, key: str, count: int, body: dict[str, object]) -> list[Answer]:
    """``count`` requests at once, each on its own connection, so the load balancer spreads them."""
    headers = {"authorization": f"Bearer {key}"}
    url = f"http://{HOST}:{port}/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=count, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one() -> Answer:
            async with http.post(url, json=body, headers=headers) as response:
                await response.read()
                return Answer(
                    response.status, response.headers.get("x-tollgate-cache"), response.headers.get("x-request-id")
                )

        return list(await asyncio.gather(*(one() for _ in range(count))))


def cache_entries(redis_port: int) -> int:
    """Response-cache entries in the bench's Redis (``<namespace>:cache:e:<key>``)."""
    command = [require("redis-cli"), "-p", str(redis_port), "--scan", "--pattern", "*:cache:e:*"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=True)
    return len(done.stdout.split())


async def stored(redis_port: int, before: int, within: float = 5.0) -> None:
    """Until there are more than ``before`` cache entries (a gateway stores an answer in the background,
    after sending it), or ``within`` seconds have passed (then the repeats are misses, and reported)."""
    for _ in range(int(within * 20)):
        if cache_entries(redis_port) > before:
            return
        await asyncio.sleep(0.05)


async def _query(database_url: str, query: TextClause, **params: object) -> list[tuple[Any, ...]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(query, params)]
    finally:
        await engine.dispose()


async def usage_rows(database_url: str) -> int:
    return int((await _query(database_url, text("SELECT count(*) FROM usage_events")))[0][0])


async def bytes_per_usage_row(database_url: str) -> float:
    """Disk taken by ``usage_events`` (table, indexes, TOAST) per row, for the capacity model."""
    query = "SELECT pg_total_relation_size('usage_events')::float / greatest(count(*), 1) FROM usage_events"
    return float((await _query(database_url, text(query)))[0][0])


async def charges(database_url: str, request_ids: list[str]) -> list[tuple[str, int, int]]:
    """``(cache_status, cost_micros, saved_micros)`` of these requests' usage rows."""
    query = "SELECT cache_status, cost_micros, saved_micros FROM usage_events WHERE request_id IN :ids"
    rows = await _query(database_url, text(query).bindparams(bindparam("ids", expanding=True)), ids=request_ids)
    return [(str(status), int(cost), int(saved)) for status, cost, saved in rows]


class Counted(NamedTuple):
    """One gateway's ``tollgate_requests_total`` for status 200 and 429, and its exact cache hits."""

    ok: int
    limited: int
    cache_hits: int


async def metric_total(http: aiohttp.ClientSession, port: int) -> Counted:
    async with http.get(f"http://{HOST}:{port}/metrics") as response:
        exposition = await response.text()
    ok = limited = hits = 0.0
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == "tollgate_requests_total":
                status = sample.labels.get("status")
                ok += sample.value if status == "200" else 0
                limited += sample.value if status == "429" else 0
            elif sample.name == "tollgate_cache_lookups_total" and sample.labels.get("result") == "hit":
                hits += sample.value
    return Counted(int(ok), int(limited), int(hits))
