"""The local append-only usage journal.

Each process appends to its own segment file (``<dir>/<time>-<pid>.jsonl``), holding an exclusive
``flock`` on it while it writes to it; past ``rotate_bytes`` it starts a new segment and lets go of
the old one, which the drain then removes once it is in the database. A record is one ``write(2)``
of one JSON line to an ``O_APPEND`` descriptor: once the call returns, the line is in the kernel's
page cache and survives a ``kill -9`` of the process. The drain position of each segment is kept
beside it (``<segment>.done``, a byte offset), written only after the database has committed up to there.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from backends.errors import TollgateError
from gateway.metering.record import UsageRecord, decode_record, encode_record

SUFFIX = ".jsonl"
DONE_SUFFIX = ".done"


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

    def __init__(self, directory: Path, *, rotate_bytes: int = 64 * 1024 * 1024, min_free_bytes: int = 0) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._rotate_bytes = rotate_bytes
        self._min_free_bytes = min_free_bytes
        self.path, self._fd = _open_segment(directory)
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
        except OSError as exc:
            self.failure = exc.strerror or str(exc)
            raise JournalUnavailable(
                f"The usage journal cannot be written ({self.failure}); try again later.", headers={"retry-after": "5"}
            ) from exc
        self._written += written
        if written != len(line):
            self.failure = "write cut short"
            raise JournalUnavailable("The usage journal write was cut short; try again later.")
        self.failure = None
        if self._written >= self._rotate_bytes:
            self.rotate()

    def rotate(self) -> Path:
        """Start a new segment; return the old one, now an orphan for the drain to finish and remove."""
        old_path, old_fd = self.path, self._fd
        self.path, self._fd = _open_segment(self.directory)
        self._written = 0
        os.close(old_fd)  # releases the lock
        return old_path

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        os.close(self._fd)


def _open_segment(directory: Path) -> tuple[Path, int]:
    path = directory / f"{time.time_ns()}-{os.getpid()}{SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return path, fd


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
