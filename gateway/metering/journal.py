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

from gateway.metering.record import UsageRecord, decode_record, encode_record

SUFFIX = ".jsonl"
DONE_SUFFIX = ".done"


class JournalUnavailable(Exception):
    """The journal cannot take a record (for example, the disk is full)."""


class Journal:
    """The segment this process writes to; only the serving thread appends."""

    def __init__(self, directory: Path, *, rotate_bytes: int = 64 * 1024 * 1024) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._rotate_bytes = rotate_bytes
        self.path, self._fd = _open_segment(directory)
        self._written = 0

    def append(self, record: UsageRecord) -> None:
        line = encode_record(record) + b"\n"
        try:
            written = os.write(self._fd, line)
        except OSError as exc:
            raise JournalUnavailable(f"usage journal write failed: {exc.strerror}") from exc
        if written != len(line):
            raise JournalUnavailable("usage journal write was cut short")
        self._written += written
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
