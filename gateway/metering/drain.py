"""The background writer that drains journal segments into the database in batches.

It runs on a thread of its own, with its own event loop and database engine, so that writing
usage never stalls the loop that serves requests. It drains this process's own segment and any
orphan left by a process that died (its ``flock`` is gone), from each segment's recorded position.
The position is saved only after the database commit, and the insert is idempotent, so a crash
anywhere in between can only replay, never lose or double-count. Its first pass, at start-up,
replays whatever an earlier run left behind.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.engine import build_engine, session_factory
from gateway.db.repositories.usage_ingest import ingest
from gateway.metering.journal import (
    SUFFIX,
    Journal,
    claim_orphan,
    drained_offset,
    mark_drained,
    read_batches,
    remove_segment,
)
from gateway.metrics import Metrics

log = logging.getLogger("tollgate.metering")


class JournalDrain:
    def __init__(
        self,
        journal: Journal,
        database_url: str,
        *,
        batch_size: int = 1000,
        interval: float = 0.2,
        rotate_bytes: int = 64 * 1024 * 1024,
        metrics: Metrics | None = None,
    ) -> None:
        self.journal = journal
        self._metrics = metrics
        self._database_url = database_url
        self._batch_size = batch_size
        self._interval = interval
        self._rotate_bytes = rotate_bytes
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tollgate-journal-drain", daemon=True)
        self.stored = 0
        self.healthy = True

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what is left (if the database answers), then stop writing; a fully drained segment
        is removed, anything else waits in the journal for the next start."""
        self._stopping.set()
        self._thread.join(timeout)
        self.journal.close()
        if lag_bytes_of(self.journal.path) == 0:
            remove_segment(self.journal.path)

    def lag_bytes(self) -> int:
        """Journal bytes written by this process and not yet in the database."""
        return lag_bytes_of(self.journal.path)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        engine = build_engine(self._database_url)
        sessions = session_factory(engine)
        delay = self._interval
        try:
            while True:
                stopping = self._stopping.is_set()
                try:
                    await self.drain_once(sessions)
                    self.healthy, delay = True, self._interval
                except Exception as exc:  # the database may be down: events wait in the journal
                    if self.healthy:
                        log.warning("usage journal drain failed, will retry: %s", exc)
                    self.healthy, delay = False, min(delay * 2, 5.0)
                if self._metrics is not None:  # also while the database is down, when it grows
                    self._metrics.journal_lag_bytes.set(self.lag_bytes())
                if stopping:
                    return
                await asyncio.to_thread(self._stopping.wait, delay)
        finally:
            await engine.dispose()

    async def drain_once(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        stored = 0
        for segment in sorted(self.journal.directory.glob(f"*{SUFFIX}")):
            if segment == self.journal.path:
                stored += await self._drain(segment, sessions)
                continue
            with claim_orphan(segment) as claimed:
                if claimed:
                    stored += await self._drain(segment, sessions)
                    if drained_offset(segment) >= segment.stat().st_size:
                        remove_segment(segment)
        if self.journal.size() >= self._rotate_bytes and self.lag_bytes() == 0:
            remove_segment(self.journal.rotate())
        self.stored += stored
        if self._metrics is not None:
            self._metrics.journal_stored.inc(stored)
        return stored

    async def _drain(self, segment: Path, sessions: async_sessionmaker[AsyncSession]) -> int:
        stored = 0
        for batch in read_batches(segment, drained_offset(segment), self._batch_size):
            if batch.records:
                async with sessions() as session, session.begin():
                    stored += await ingest(session, batch.records)
            mark_drained(segment, batch.end_offset)
        return stored


def lag_bytes_of(segment: Path) -> int:
    return max(0, segment.stat().st_size - drained_offset(segment)) if segment.exists() else 0
