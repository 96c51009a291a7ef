"""The drain process stores everything its owner journals, on SQLite and Postgres: rotated segments are
finished and removed, and when the owner is killed the drain makes a last pass and exits."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.db.models import UsageEvent
from gateway.keys import repository as api_keys
from gateway.metering.drain import JournalDrain, lag_bytes_of
from gateway.metering.journal import Journal
from tests.support.usage_records import usage_record

Sessions = async_sessionmaker[AsyncSession]

OWNER = """
import os, sys, pathlib, time
from gateway.metering.drain import JournalDrain, lag_bytes_of
from gateway.metering.journal import Journal
from tests.support.usage_records import usage_record

if __name__ == "__main__":
    journal = Journal(pathlib.Path(sys.argv[1]))
    drain = JournalDrain(journal, sys.argv[2], interval=2)
    drain.start()
    customer, key = int(sys.argv[3]), int(sys.argv[4])
    for n in range(25):
        journal.append(usage_record(f"first-{n}", customer_id=customer, api_key_id=key))
    while drain.stored < 25:  # the drain's first pass
        time.sleep(0.05)
    for n in range(25):  # left for the pass that follows the owner's death
        journal.append(usage_record(f"second-{n}", customer_id=customer, api_key_id=key))
    print(drain._process.pid, flush=True)
    time.sleep(600)
"""


async def _owner_ids(sessions: Sessions) -> tuple[int, int]:
    async with sessions.begin() as session:
        customer = await customers.create(session, "drained-co")
        key = (await api_keys.create(session, customer)).info.id
    return customer.id, key


async def _events(sessions: Sessions) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(UsageEvent))).scalar_one())


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_every_record_is_stored_and_rotated_segments_are_removed(
    database_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    customer, key = await _owner_ids(sessions)
    journal = Journal(tmp_path / "journal", rotate_bytes=2_000)
    drain = JournalDrain(journal, database_url, interval=0.05)
    drain.start()
    try:
        for n in range(60):
            journal.append(usage_record(f"req-{n}", customer_id=customer, api_key_id=key))
        assert len(list(journal.directory.glob("*.jsonl"))) > 5  # the writer rotated as it went
        await _until(lambda: drain.stored == 60)
        await _until(lambda: len(list(journal.directory.glob("*.jsonl"))) == 1)  # rotated ones finished
    finally:
        await asyncio.to_thread(drain.stop)
    assert drain.healthy
    assert await _events(sessions) == 60
    assert list(journal.directory.iterdir()) == []  # fully drained: nothing left behind


async def test_when_the_owner_is_killed_the_drain_stores_its_journal_and_exits(
    database_url: str, sessions: Sessions, tmp_path: Path
) -> None:
    customer, key = await _owner_ids(sessions)
    script = tmp_path / "owner.py"
    script.write_text(OWNER)
    owner = await asyncio.create_subprocess_exec(
        *[sys.executable, str(script), str(tmp_path / "journal"), database_url, str(customer), str(key)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    )
    assert owner.stdout is not None
    drain_pid = int(await owner.stdout.readline())
    owner.send_signal(signal.SIGKILL)  # long before the drain's next periodic pass
    await owner.wait()

    def gone() -> bool:
        try:
            os.kill(drain_pid, 0)
        except ProcessLookupError:
            return True
        return False

    await _until(gone)
    assert await _events(sessions) == 50
    # Nothing is left to replay (the next start's drain removes a segment the dead owner still held).
    assert [lag_bytes_of(segment) for segment in (tmp_path / "journal").glob("*.jsonl")] in ([], [0])
