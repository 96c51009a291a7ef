"""The journal drain: a process of its own that writes journal segments into the database in batches.

The serving process only appends to its journal; everything else happens in a child process with its
own interpreter and database engine, so that writing usage takes neither the serving loop's time nor
its GIL (measured on a thread of the serving process: ``docs/benchmarks.md``). The child drains its
owner's live segment, which the owner holds locked so that no other drain touches it, and every
orphan segment whose lock is free (rotated by its writer, or left by a process that died), from each
segment's recorded position. The position is saved only after the database commit, and the insert is
idempotent, so a crash anywhere in between can only replay, never lose or double-count. Its first
pass replays whatever an earlier run left behind; when its owner dies it makes one last pass and exits.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.engine import build_engine, session_factory
from gateway.metering.ingest import ingest
from gateway.metering.journal import (
    SUFFIX,
    Journal,
    claim_orphan,
    drained_offset,
    mark_drained,
    read_batches,
    remove_segment,
    writer_pid,
)
from gateway.metering.journal_owner import SegmentOwnership, journal_owner
from gateway.metrics import Metrics

log = logging.getLogger("tollgate.metering")


@dataclass(frozen=True, slots=True)
class DrainJob:
    directory: Path
    owner_pid: int
    database_url: str
    batch_size: int
    interval: float


class JournalDrain:
    """The serving process's handle on its drain process."""

    def __init__(self, journal: Journal, database_url: str, *, batch_size: int = 1000, interval: float = 0.2) -> None:
        self._context = multiprocessing.get_context("spawn")  # never fork a process that runs an event loop
        self.journal = journal
        self._stop_reader, self._stopper = self._context.Pipe(duplex=False)
        # Lock-free shared integers: one writer (the drain), and a stale read costs nothing.
        self._healthy = self._context.RawValue(ctypes.c_byte, 1)
        self._stored = self._context.RawValue(ctypes.c_longlong, 0)
        self._refused = self._context.RawValue(ctypes.c_int, 0)  # segments written for another database
        self._job = DrainJob(journal.directory, os.getpid(), database_url, batch_size, interval)
        self._process = self._new_process()

    def _new_process(self) -> multiprocessing.process.BaseProcess:
        shared = (self._healthy, self._stored, self._refused)
        return self._context.Process(
            target=run, args=(self._job, self._stop_reader, *shared), name="tollgate-journal-drain"
        )

    @property
    def healthy(self) -> bool:
        """False while the database refuses the drain's writes (usage waits in the journal)."""
        return bool(self._healthy.value)

    @property
    def stored(self) -> int:
        return int(self._stored.value)

    @property
    def alive(self) -> bool:
        """False once the drain process has died (killed, crashed): nothing reaches the database."""
        return self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def start(self) -> None:
        self._process.start()

    def restart(self) -> None:
        """Start a new drain process in place of a dead one; it carries on from the saved positions."""
        self._process.join(0)
        self._process.close()
        self._process = self._new_process()
        self._process.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Drain what is left (if the database answers), then stop writing; a fully drained segment
        is removed, anything else waits in the journal for the next start."""
        self._stopper.send(True)
        self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self.journal.close()
        if lag_bytes_of(self.journal.path) == 0:
            remove_segment(self.journal.path)

    def lag_bytes(self) -> int:
        """Journal bytes written by this process and not yet in the database."""
        return lag_bytes_of(self.journal.path)

    async def report_forever(self, metrics: Metrics, interval: float = 0.5) -> None:
        """Publish the drain's progress in this process's metrics (the drain process has none)."""
        reported = 0
        while True:
            stored = self.stored
            metrics.journal_stored.inc(stored - reported)
            reported = stored
            metrics.journal_lag_bytes.set(self.lag_bytes())  # also while the database is down, when it grows
            metrics.journal_refused_segments.set(self._refused.value)
            await asyncio.sleep(interval)


def run(
    job: DrainJob, stop: Connection, healthy: ctypes.c_byte, stored: ctypes.c_longlong, refused: ctypes.c_int
) -> None:
    """The drain process's body."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the owner says when to stop
    asyncio.run(_drain_forever(job, stop, healthy, stored, refused))


async def _drain_forever(
    job: DrainJob, stop: Connection, healthy: ctypes.c_byte, stored: ctypes.c_longlong, refused: ctypes.c_int
) -> None:
    engine = build_engine(job.database_url)
    sessions = session_factory(engine)
    ownership = SegmentOwnership(journal_owner(job.database_url))
    owner = multiprocessing.parent_process()
    # Ready when the owner asks us to stop, or when it is gone (killed, say): either way, one last pass.
    watched: list[Connection | int] = [stop] if owner is None else [stop, owner.sentinel]
    delay, last = job.interval, False
    try:
        while True:
            try:
                stored.value += await drain_once(job.directory, job.owner_pid, sessions, job.batch_size, ownership)
                healthy.value, delay = 1, job.interval
                ownership.forget_missing()
                refused.value = len(ownership.refused)
            except Exception as exc:  # the database may be down: events wait in the journal
                if healthy.value:
                    log.warning("usage journal drain failed, will retry: %s", exc)
                healthy.value, delay = 0, min(delay * 2, 5.0)
            if last:
                return
            last = bool(wait(watched, delay))  # blocking is fine: nothing else runs on this loop
    finally:
        await engine.dispose()


async def drain_once(
    directory: Path,
    owner_pid: int,
    sessions: async_sessionmaker[AsyncSession],
    batch_size: int,
    ownership: SegmentOwnership | None = None,
) -> int:
    """One pass over the journal directory; returns how many new events it stored. With ``ownership``,
    an orphan written for another database is left alone, for that database's gateway."""
    stored = 0
    # Blocking file calls are fine here: this loop, in the drain's own process, serves nothing else.
    for segment in sorted(directory.glob(f"*{SUFFIX}")):  # noqa: ASYNC240
        with claim_orphan(segment) as claimed:
            # An orphan, or the owner's live segment (which only we drain); not another database's.
            ours = claimed or writer_pid(segment) == owner_pid
            if not ours or (ownership is not None and not ownership.owns(segment)):
                continue
            stored += await _drain(segment, sessions, batch_size)
            if claimed and drained_offset(segment) >= segment.stat().st_size:
                remove_segment(segment)
    return stored


async def _drain(segment: Path, sessions: async_sessionmaker[AsyncSession], batch_size: int) -> int:
    stored = 0
    for batch in read_batches(segment, drained_offset(segment), batch_size):
        if batch.records:
            async with sessions() as session, session.begin():
                stored += await ingest(session, batch.records)
        mark_drained(segment, batch.end_offset)
    return stored


def lag_bytes_of(segment: Path) -> int:
    return max(0, segment.stat().st_size - drained_offset(segment)) if segment.exists() else 0
