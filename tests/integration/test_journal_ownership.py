"""Two gateways in one directory, each with its own database (Postgres and SQLite): one is killed -9
with usage its database has not stored yet. Whether they share the default journal place or one
configured ``journal_dir``, the other never drains that usage into its own database (where it would
bill the wrong customers): it refuses the segment (a metric and a log line) and leaves it to the
killed gateway, which stores it when it starts again. Each database ends with exactly its own events."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.support.databases import migrated_database, open_sessions
from tests.support.gateway_process import start_gateway, stop
from tests.support.scrape import scrape, value
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config
from tests.support.tcp_proxy import running_proxy

REFUSED = "tollgate_journal_refused_segments"


def chat(url: str, key: str, tag: str) -> str:
    """One request; returns its request id (the id of its usage event)."""
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": tag}], "temperature": 1.0}
    answer = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-request-id"]


def customer_key(url: str, name: str) -> str:
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
        return add_customer(admin, name)


async def stored_ids(database_url: str) -> set[str]:
    async with open_sessions(database_url) as sessions, sessions() as session:
        return set((await session.execute(text("SELECT request_id FROM usage_events"))).scalars())


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def kill_9_with_its_drain(process: subprocess.Popen[bytes]) -> None:
    """``kill -9`` the gateway and its drain process together: nothing gets a last pass."""
    tasks = Path(f"/proc/{process.pid}/task")
    children = {int(pid) for task in tasks.iterdir() for pid in (task / "children").read_text().split()}
    for child in children:
        os.kill(child, signal.SIGKILL)
    process.kill()
    process.wait()


@pytest.mark.parametrize("journal_dir", ["default", "shared"])
async def test_a_journal_is_drained_only_into_its_own_database(tmp_path: Path, journal_dir: str) -> None:
    journals = {} if journal_dir == "default" else {"journal_dir": str(tmp_path / "journal")}
    async with (
        migrated_database("postgres", tmp_path) as postgres_url,
        migrated_database("sqlite", tmp_path) as sqlite_url,
    ):
        server = make_url(postgres_url)
        with running_proxy((server.host or "127.0.0.1", server.port or 5432)) as proxy:
            via_proxy = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            config_a = {**sim_config(tmp_path, database_url=via_proxy), **journals}
            config_b = {**sim_config(tmp_path, database_url=sqlite_url), **journals}
            if journal_dir == "default":
                del config_a["journal_dir"], config_b["journal_dir"]
            url_a, gateway_a = await asyncio.to_thread(start_gateway, config_a, tmp_path)
            url_b, gateway_b = await asyncio.to_thread(start_gateway, config_b, tmp_path)
            try:
                key_a, key_b = customer_key(url_a, "postgres-co"), customer_key(url_b, "sqlite-co")
                ids_a = {chat(url_a, key_a, "a first")}
                ids_b = {chat(url_b, key_b, f"b {n}") for n in range(3)}
                await asyncio.sleep(2.5)  # past the key poll that sees the new key as changed
                ids_a.add(chat(url_a, key_a, "a second"))
                await until(lambda: _contains(postgres_url, ids_a), "the first usage in Postgres")

                proxy.cut()  # Postgres unreachable for A: its usage waits in the journal
                unstored = {chat(url_a, key_a, f"a unstored {n}") for n in range(5)}
                kill_9_with_its_drain(gateway_a)
                proxy.restore()
                ids_a |= unstored
                ids_b |= {chat(url_b, key_b, f"b after {n}") for n in range(3)}

                expected_refused = 1 if journal_dir == "shared" else 0
                await until(lambda: _metric(url_b, REFUSED, expected_refused), "B to refuse A's segment")
                await asyncio.sleep(1.0)  # several of B's drain passes
                assert await stored_ids(sqlite_url) == ids_b  # none of A's usage went into B's database
                if journal_dir == "shared":
                    log = (tmp_path / "gateway.log").read_text()
                    assert "was written for another database (postgresql://" in log
                else:  # two databases, two journal directories
                    assert len(list((tmp_path / ".tollgate" / "journal").iterdir())) == 2

                url_a, gateway_a = await asyncio.to_thread(start_gateway, config_a, tmp_path)
                await until(lambda: _contains(postgres_url, ids_a), "A to store its journaled usage")
                await until(lambda: _metric(url_b, REFUSED, 0), "A's drained segment to be gone")
                assert await stored_ids(postgres_url) == ids_a
                assert await stored_ids(sqlite_url) == ids_b
            finally:
                await asyncio.to_thread(stop, gateway_a)
                await asyncio.to_thread(stop, gateway_b)


async def _contains(database_url: str, ids: set[str]) -> bool:
    return ids <= await stored_ids(database_url)


async def _metric(url: str, name: str, expected: float) -> bool:
    return value(await asyncio.to_thread(scrape, url), name) == expected
