"""The local append-only usage journal.

Each process appends to its own segment file (``<dir>/<time>-<pid>.jsonl``), holding an exclusive
``flock`` on it while it writes to it; past ``rotate_bytes`` it starts a new segment and lets go of
the old one, which the drain then removes once it is in the database. A segment's first line is its
header, naming the database it is written for (``journal_owner.py``). A record is one ``write(2)``
of one JSON line to an ``O_APPEND`` descriptor: once the call returns, the line is in the kernel's
page cache and survives a ``kill -9`` of the process. To survive the machine's crash too, it must
reach the disk: ``fsync`` decides when (``always``: after every record, before the append returns;
``interval``: a lifespan task flushes what was written, in a worker thread, once every
``fsync_interval``; ``never``: the kernel writes it back within about 30 s; docs/pricing.md). The drain
position of each segment is kept beside it (``<segment>.done``, a byte offset), written only after
the database has committed up to there.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from gateway.core.errors import TollgateError
from gateway.metering.record import UsageRecord, decode_record, encode_record

log = logging.getLogger("tollgate.metering")

SUFFIX = ".jsonl"
DONE_SUFFIX = ".done"
HEADER_START = b'{"journal":'
FsyncMode = Literal["always", "interval", "never"]


class SegmentHeader(msgspec.Struct, frozen=True):
    """A segment's first line: the database its records were written for."""

    journal: int  # the format's version
    database: str  # the journal's name for the database (``journal_owner.journal_owner``)
    identity: str  # where that database is, without user, password or options: for the operator


encode_header = msgspec.json.Encoder().encode
decode_header = msgspec.json.Decoder(SegmentHeader).decode


class JournalUnavailable(TollgateError):
    """The journal cannot take a record (for example, the disk is full): billable requests are
    refused rather than served unmetered."""

    status = 503
    type = "server_error"
    default_code = "usage_journal_unavailable"


class Journal:
    """The segment this process writes to; only the serving thread appends.

    It refuses (:meth:`check_writable`) while its disk has less than ``min_free_bytes`` free or since
    a write failed, until a probe write succeeds again, so that requests are turned away before they
    are sent upstream instead of being served and then found unrecordable.
    """

    def __init__(
        self,
        directory: Path,
        *,
        header: SegmentHeader | None = None,
        rotate_bytes: int = 64 * 1024 * 1024,
        min_free_bytes: int = 0,
        fsync: FsyncMode = "never",
        fsync_interval: float = 1.0,
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.header = header  # None: segments without a header, for whoever drains the directory
        self._rotate_bytes = rotate_bytes
        self._min_free_bytes = min_free_bytes
        self.fsync, self.fsync_interval = fsync, fsync_interval
        self._unflushed: list[int] = []  # descriptors (duplicates) that the next interval flush syncs and closes
        self._unsynced = False  # the live segment has lines that no flush has synced yet
        self.path, self._fd = self._new_segment()
        self._written = 0
        self.failure: str | None = None  # why the last write failed, until one succeeds again

    def append(self, record: UsageRecord) -> None:
        line = encode_record(record) + b"\n"
        self._write(line)
        if self._written >= self._rotate_bytes:
            self.rotate()

    def check_writable(self) -> None:
        """Raise :class:`JournalUnavailable` unless a record written now would be kept."""
        free = self.free_bytes()  # one fstatvfs, about a microsecond: a cached reading would let a full disk through
        if free < self._min_free_bytes:
            raise JournalUnavailable(
                f"The usage journal's disk has {free} bytes free, under the {self._min_free_bytes} "
                "(journal_min_free_bytes) this gateway needs to meter a request; try again later.",
                headers={"retry-after": "5"},
            )
        if self.failure is not None:
            self._write(b"\n")  # a blank line: readers skip it, and it proves the disk takes writes again

    def free_bytes(self) -> int:
        stats = os.fstatvfs(self._fd)
        return stats.f_bavail * stats.f_frsize

    def _write(self, line: bytes) -> None:
        try:
            written = os.write(self._fd, line)
            if self.fsync == "always":
                os.fsync(self._fd)
        except OSError as exc:
            self.failure = exc.strerror or str(exc)
            raise JournalUnavailable(
                f"The usage journal cannot be written ({self.failure}); try again later.", headers={"retry-after": "5"}
            ) from exc
        self._written += written
        if written != len(line):
            self.failure = "write cut short"
            raise JournalUnavailable("The usage journal write was cut short; try again later.")
        self._unsynced = self.fsync == "interval"
        self.failure = None
        if self._written >= self._rotate_bytes:
            self.rotate()

    async def sync_forever(self) -> None:
        """With ``fsync: interval``, a lifespan task: :meth:`flush` once every ``fsync_interval``."""
        if self.fsync != "interval":
            return
        while True:
            await asyncio.sleep(self.fsync_interval)
            await self.flush()

    async def flush(self) -> None:
        """Put everything written since the last flush on the disk (``fsync``, in a worker thread: appends
        go on meanwhile), so that it survives a crash of the machine."""
        work, self._unflushed = self._unflushed, []
        if self._unsynced:
            work.append(os.dup(self._fd))  # a rotation may close the segment's own descriptor meanwhile
            self._unsynced = False
        if not work:
            return
        try:
            await asyncio.to_thread(_sync_all, work)
        except OSError as exc:  # refused (check_writable) until a write succeeds again
            self.failure = exc.strerror or str(exc)
            log.error("usage journal flush to disk failed: %s", self.failure)

    def rotate(self) -> Path:
        """Start a new segment; return the old one, now an orphan for the drain to finish and remove.
        If no new segment can be opened (a full disk), this one goes on."""
        old_path, old_fd, old_unsynced = self.path, self._fd, self._unsynced
        try:
            self.path, self._fd = self._new_segment()
        except OSError:
            return old_path
        if old_unsynced:  # its tail goes to the disk with the next flush
            self._unflushed.append(os.dup(old_fd))
        self._written = 0
        os.close(old_fd)  # releases the lock (once the flush has closed its duplicate too)
        return old_path

    def _new_segment(self) -> tuple[Path, int]:
        path, fd = _open_segment(self.directory, self.header, durable=self.fsync == "always")
        if self.fsync == "interval":  # its header and its directory entry go to the disk with the next flush
            self._unflushed.append(os.open(self.directory, os.O_RDONLY))
            self._unsynced = True
        return path, fd

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        if self.fsync == "interval":
            with contextlib.suppress(OSError):
                _sync_all([*self._unflushed, os.dup(self._fd)])
            self._unflushed = []
        os.close(self._fd)


def _sync_all(descriptors: list[int]) -> None:
    """``fsync`` and close each of ``descriptors``; raise the last failure, if any, once all are closed."""
    failure: OSError | None = None
    for fd in descriptors:
        try:
            os.fsync(fd)
        except OSError as exc:
            failure = exc
        finally:
            os.close(fd)
    if failure is not None:
        raise failure


def _open_segment(directory: Path, header: SegmentHeader | None, *, durable: bool) -> tuple[Path, int]:
    """A new segment, locked, its header written and marked drained; ``durable``: synced to the disk,
    with its directory entry."""
    path = directory / f"{time.time_ns()}-{os.getpid()}{SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if header is not None:
            line = encode_header(header) + b"\n"
            if os.write(fd, line) != len(line):
                raise OSError("segment header write cut short")
            mark_drained(path, len(line))  # nothing to store before the first record
        if durable:
            os.fsync(fd)
            _sync_all([os.open(directory, os.O_RDONLY)])
    except OSError:
        os.close(fd)
        remove_segment(path)
        raise
    return path, fd


def segment_header(segment: Path) -> SegmentHeader | None:
    """The database ``segment`` was written for; None for a segment from before headers (or an empty one)."""
    try:
        with segment.open("rb") as file:
            first = file.readline()
    except FileNotFoundError:
        return None
    if not first.startswith(HEADER_START) or not first.endswith(b"\n"):
        return None
    try:
        return decode_header(first)
    except msgspec.DecodeError:
        return None  # damaged: read as a segment without a header


def writer_pid(segment: Path) -> int:
    """The process that wrote ``segment`` (its name ends with ``-<pid>``)."""
    return int(segment.stem.rpartition("-")[2])


@dataclass(slots=True)
class Batch:
    records: list[UsageRecord]
    end_offset: int


def read_batches(segment: Path, start: int, max_records: int) -> Iterator[Batch]:
    """Complete lines of ``segment`` from byte ``start``, in batches; a torn last line is left."""
    with segment.open("rb") as file:
        file.seek(start)
        offset = start
        records: list[UsageRecord] = []
        for line in file:
            if not line.endswith(b"\n"):
                break  # still being written, or torn by a machine crash: never half a record
            offset += len(line)
            if offset == len(line) and line.startswith(HEADER_START):
                continue  # the segment's header, read when the position was lost
            if line.strip():
                records.append(decode_record(line))
            if len(records) >= max_records:
                yield Batch(records, offset)
                records = []
        if records or offset != start:
            yield Batch(records, offset)


def drained_offset(segment: Path) -> int:
    try:
        return int(done_path(segment).read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def mark_drained(segment: Path, offset: int) -> None:
    temporary = done_path(segment).with_suffix(".tmp")
    temporary.write_text(str(offset))
    os.replace(temporary, done_path(segment))


def done_path(segment: Path) -> Path:
    return segment.with_name(segment.name + DONE_SUFFIX)


@contextlib.contextmanager
def claim_orphan(segment: Path) -> Iterator[bool]:
    """Lock a segment whose writer is gone; yields False when a live process still holds it."""
    try:
        fd = os.open(segment, os.O_RDONLY)
    except FileNotFoundError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def remove_segment(segment: Path) -> None:
    for path in (segment, done_path(segment)):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
