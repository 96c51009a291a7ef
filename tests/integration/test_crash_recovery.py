"""``kill -9`` under load: every response the client completed has exactly one usage event."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import openai
from sqlalchemy import text

from tests.support.databases import open_sessions
from tests.support.gateway_process import create_key, start_gateway, stop

WORKERS = 12


def crash_config(database_url: str, workdir: Path) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator", "ttft_ms": 5, "inter_token_ms": 3}},
        "models": [
            {
                "name": "sim-chat",
                "deployments": [{"backend": "sim", "model": "sim"}],
                "pricing": {"input_per_mtok": "1", "output_per_mtok": "3"},
            }
        ],
        "database_url": database_url,
        "journal_dir": str(workdir / "journal"),
    }


async def _load(client: openai.AsyncOpenAI, index: int, completed: set[str], stop_at: float) -> None:
    turn = 0
    while time.monotonic() < stop_at:
        turn += 1
        messages = [{"role": "user", "content": f"worker {index} turn {turn}"}]
        try:
            if turn % 2:
                raw = await client.chat.completions.with_raw_response.create(
                    model="sim-chat", messages=messages, stream=True
                )  # type: ignore[arg-type]
                async for _ in raw.parse():
                    pass
            else:
                raw = await client.chat.completions.with_raw_response.create(model="sim-chat", messages=messages)  # type: ignore[arg-type]
            completed.add(raw.headers["x-request-id"])
        except (openai.APIError, OSError):
            return  # the gateway is gone: this response was not completed


async def _events(url: str) -> tuple[list[str], int, int]:
    async with open_sessions(url) as sessions, sessions() as session:
        ids = list((await session.execute(text("SELECT request_id FROM usage_events"))).scalars())
        rolled = (await session.execute(text("SELECT coalesce(sum(requests), 0) FROM usage_rollups"))).scalar_one()
        cost = (await session.execute(text("SELECT coalesce(sum(cost_micros), 0) FROM usage_events"))).scalar_one()
    return ids, int(rolled), int(cost)


async def test_kill_9_under_load_loses_and_duplicates_nothing(database_url: str, tmp_path: Path) -> None:
    config = crash_config(database_url, tmp_path)
    key = await asyncio.to_thread(create_key, config, tmp_path, "crash-co")
    url, process = await asyncio.to_thread(start_gateway, config, tmp_path)
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    completed: set[str] = set()
    load = [asyncio.create_task(_load(client, i, completed, time.monotonic() + 30)) for i in range(WORKERS)]
    await asyncio.sleep(2.0)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    await asyncio.gather(*load)
    assert len(completed) > 20, "the load never got going"

    url, process = await asyncio.to_thread(start_gateway, config, tmp_path)  # replays the journal
    try:
        deadline = time.monotonic() + 15
        while not completed <= set((await _events(database_url))[0]) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        ids, rolled_up, _ = await _events(database_url)
    finally:
        stop(process)
    assert completed <= set(ids), f"{len(completed - set(ids))} completed responses have no usage event"
    assert len(ids) == len(set(ids)) == rolled_up, "an event was stored or rolled up twice"
    assert len(set(ids) - completed) <= WORKERS, "more events than requests that were in flight"
