"""The background writer that drains journal segments into the database in batches.

It drains this process's own segment and any orphan left by a process that died (its ``flock`` is
gone), from each segment's recorded position. The position is saved only after the database
commit, and the insert is idempotent, so a crash anywhere in between can only replay, never lose
or double-count. At start-up the first pass replays whatever an earlier run left behind.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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

log = logging.getLogger("tollgate.metering")


class JournalDrain:
    def __init__(
        self,
        journal: Journal,
        sessions: async_sessionmaker[AsyncSession],
        *,
        batch_size: int = 500,
        interval: float = 0.2,
        rotate_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.journal = journal
        self._sessions = sessions
        self._batch_size = batch_size
        self._interval = interval
        self._rotate_bytes = rotate_bytes
        self.stored = 0
        self.healthy = True

    def lag_bytes(self) -> int:
        """Journal bytes written by this process and not yet in the database."""
        return self.lag_bytes_of(self.journal.path)

    def close(self) -> None:
        """Stop writing; a fully drained segment is removed, anything else waits for the next start."""
        self.journal.close()
        if self.lag_bytes_of(self.journal.path) == 0:
            remove_segment(self.journal.path)

    @staticmethod
    def lag_bytes_of(segment: Path) -> int:
        return max(0, segment.stat().st_size - drained_offset(segment)) if segment.exists() else 0

    async def run_forever(self) -> None:
        delay = self._interval
        while True:
            try:
                await self.drain_once()
                self.healthy, delay = True, self._interval
            except Exception as exc:  # the database may be down: events wait in the journal
                if self.healthy:
                    log.warning("usage journal drain failed, will retry: %s", exc)
                self.healthy, delay = False, min(delay * 2, 5.0)
            await asyncio.sleep(delay)

    async def drain_once(self) -> int:
        stored = 0
        for segment in sorted(self.journal.directory.glob(f"*{SUFFIX}")):
            if segment == self.journal.path:
                stored += await self._drain(segment)
                continue
            with claim_orphan(segment) as claimed:
                if claimed:
                    stored += await self._drain(segment)
                    if drained_offset(segment) >= segment.stat().st_size:
                        remove_segment(segment)
        if self.journal.size() >= self._rotate_bytes and self.lag_bytes() == 0:
            remove_segment(self.journal.rotate())
        self.stored += stored
        return stored

    async def _drain(self, segment: Path) -> int:
        stored = 0
        for batch in read_batches(segment, drained_offset(segment), self._batch_size):
            if batch.records:
                async with self._sessions() as session, session.begin():
                    stored += await ingest(session, batch.records)
            mark_drained(segment, batch.end_offset)
        return stored
