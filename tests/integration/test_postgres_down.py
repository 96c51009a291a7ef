"""Postgres taken down under a live gateway (through a proxy the test cuts): known keys keep being
served, usage waits in the journal, ``/readyz`` says degraded, and every event reaches the database
once it is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.support.databases import migrated_database
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config
from tests.support.tcp_proxy import TcpProxy, running_proxy


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.2)


@asynccontextmanager
async def gateway_on_cuttable_postgres(tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, httpx.AsyncClient, str]]:
    """A gateway whose Postgres sits behind a proxy the test can cut, and a client with a key of its
    own; yields the proxy, the client and the database's direct URL."""
    async with migrated_database("postgres", tmp_path) as direct_url:
        server = make_url(direct_url)
        with running_proxy((server.host or "127.0.0.1", server.port or 5432)) as proxy:
            via_proxy = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            with running_gateway(sim_config(tmp_path, database_url=via_proxy), tmp_path) as url:
                with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
                    key = add_customer(admin, "acme")
                async with httpx.AsyncClient(
                    base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30
                ) as client:
                    yield proxy, client, direct_url


BODY = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}]}


async def test_postgres_down_degrades_and_loses_no_usage(tmp_path: Path) -> None:
    async with gateway_on_cuttable_postgres(tmp_path) as (proxy, client, direct_url):
        server = make_url(direct_url)

        async def stored_events() -> int:
            db = await asyncpg.connect(server.set(drivername="postgresql").render_as_string(hide_password=False))
            try:
                return int(await db.fetchval("SELECT count(*) FROM usage_events"))
            finally:
                await db.close()

        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200

        await asyncio.sleep(2.5)  # past the key poll that sees the new key as changed
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200

        async def stored_before_outage() -> bool:  # the key is known and the drain works
            return await stored_events() == 2

        await wait_until(stored_before_outage)

        proxy.cut()
        served = [await client.post("/v1/chat/completions", json=BODY) for _ in range(5)]
        streamed = await client.post("/v1/chat/completions", json={**BODY, "stream": True})
        assert [r.status_code for r in [*served, streamed]] == [200] * 6
        stranger = await client.post(
            "/v1/chat/completions", json=BODY, headers={"authorization": "Bearer sk-not-a-known-key"}
        )
        assert stranger.status_code == 503  # cannot be checked: refused, clearly, not a crash
        assert stranger.json()["error"]["code"] == "key_store_unavailable"

        async def degraded() -> bool:
            ready = (await client.get("/readyz")).json()
            return bool(ready["status"] == "degraded" and ready["usage_journal"]["drain"] == "failing")

        await wait_until(degraded)
        ready = await client.get("/readyz")
        assert ready.status_code == 200  # still serving: it stays in rotation
        assert ready.json()["usage_journal"]["lag_bytes"] > 0
        assert await stored_events() == 2  # waiting in the journal

        proxy.restore()

        async def ready_again() -> bool:
            return bool((await client.get("/readyz")).json()["status"] == "ready")

        await wait_until(ready_again, timeout=60)
        assert await stored_events() == 8


async def test_a_key_created_just_before_postgres_goes_down_is_still_served(tmp_path: Path) -> None:
    async with gateway_on_cuttable_postgres(tmp_path) as (proxy, client, _):
        assert (await client.post("/v1/chat/completions", json=BODY)).status_code == 200
        # Past the polls' 5 s look-back: every poll that lists the new key as changed has re-read it, so
        # none can still be re-reading it when the database goes (a machine under load delays polls).
        await asyncio.sleep(7)

        proxy.cut()
        served = [await client.post("/v1/chat/completions", json=BODY) for _ in range(3)]
        assert [r.status_code for r in served] == [200] * 3, served[0].text
