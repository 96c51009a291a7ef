"""The append-only journal: whole lines only, positions kept beside segments, orphans claimable, and
flushed to the disk as ``fsync`` says."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.metering.journal import (
    Journal,
    claim_orphan,
    drained_offset,
    mark_drained,
    read_batches,
)
from gateway.metering.record import UsageRecord
from tests.support.usage_records import usage_record


def record(n: int) -> UsageRecord:
    return usage_record(f"req_{n}", created_at=1_700_000_000.0 + n, output_tokens=n, cost_micros=n * 10)


def test_appended_records_read_back_in_batches(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    for n in range(5):
        journal.append(record(n))
    batches = list(read_batches(journal.path, 0, max_records=2))
    assert [[r.request_id for r in b.records] for b in batches] == [["req_0", "req_1"], ["req_2", "req_3"], ["req_4"]]
    assert batches[-1].end_offset == journal.size()
    assert batches[0].records[1] == record(1)


def test_a_torn_last_line_is_never_read(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(record(1))
    whole = journal.size()
    with journal.path.open("ab") as file:
        file.write(b'{"request_id": "req_torn", "creat')
    batches = list(read_batches(journal.path, 0, max_records=10))
    assert [r.request_id for b in batches for r in b.records] == ["req_1"]
    assert batches[-1].end_offset == whole


def test_drain_position_survives_restart(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(record(1))
    mark_drained(journal.path, journal.size())
    journal.append(record(2))
    assert drained_offset(journal.path) > 0
    remaining = list(read_batches(journal.path, drained_offset(journal.path), 10))
    assert [r.request_id for b in remaining for r in b.records] == ["req_2"]


def test_live_segment_cannot_be_claimed_but_a_dead_writers_can(tmp_path: Path) -> None:
    code = (
        "import sys, pathlib, os; from gateway.metering.journal import Journal; "
        "j = Journal(pathlib.Path(sys.argv[1])); print(j.path, flush=True); sys.stdin.read()"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    segment = Path(writer.stdout.readline().strip())
    with claim_orphan(segment) as claimed:
        assert not claimed
    writer.kill()
    writer.wait()
    with claim_orphan(segment) as claimed:
        assert claimed


def test_rotate_releases_the_old_segment(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.append(record(1))
    old = journal.rotate()
    assert old != journal.path and old.exists() and journal.size() == 0
    with claim_orphan(old) as claimed:
        assert claimed
    assert os.stat(old).st_size > 0


class FsyncCounter:
    """Stands in for ``os.fsync``: counts the calls per file (by inode: a flush syncs a duplicate descriptor)."""

    def __init__(self) -> None:
        self.inodes: list[int] = []

    def __call__(self, fd: int) -> None:
        self.inodes.append(os.fstat(fd).st_ino)

    def on(self, path: Path) -> int:
        return self.inodes.count(path.stat().st_ino)


@pytest.fixture
def fsync(monkeypatch: pytest.MonkeyPatch) -> FsyncCounter:
    counter = FsyncCounter()
    monkeypatch.setattr(os, "fsync", counter)
    return counter


def test_fsync_always_puts_every_record_on_the_disk_before_the_append_returns(
    tmp_path: Path, fsync: FsyncCounter
) -> None:
    journal = Journal(tmp_path, fsync="always")
    before = fsync.on(journal.path)
    for n in range(5):
        journal.append(record(n))
        assert fsync.on(journal.path) - before == n + 1


def test_fsync_never_leaves_it_to_the_kernel(tmp_path: Path, fsync: FsyncCounter) -> None:
    journal = Journal(tmp_path, fsync="never", rotate_bytes=1_000)
    for n in range(50):  # across several rotations
        journal.append(record(n))
    journal.close()
    assert fsync.inodes == []


async def test_fsync_interval_syncs_at_most_once_per_interval_and_never_in_the_append(
    tmp_path: Path, fsync: FsyncCounter
) -> None:
    journal = Journal(tmp_path, fsync="interval", fsync_interval=0.02)
    for n in range(500):
        journal.append(record(n))
    assert fsync.on(journal.path) == 0  # appends never wait for the disk
    flusher = asyncio.create_task(journal.sync_forever())
    started, appended = time.monotonic(), 500
    while fsync.on(journal.path) < 3:
        journal.append(record(appended))
        appended += 1
        await asyncio.sleep(0.001)
        assert time.monotonic() - started < 30, "no flush"
    flusher.cancel()
    elapsed = time.monotonic() - started
    assert fsync.on(journal.path) <= elapsed / 0.02 + 1  # one flush per interval at most, however many appends
    assert appended > 3 * fsync.on(journal.path)


async def test_fsync_interval_flushes_an_idle_tail_once(tmp_path: Path, fsync: FsyncCounter) -> None:
    journal = Journal(tmp_path, fsync="interval", fsync_interval=0.01)
    await journal.flush()  # the new segment's header and directory entry
    assert fsync.on(tmp_path) == 1
    before = fsync.on(journal.path)
    journal.append(record(1))
    flusher = asyncio.create_task(journal.sync_forever())
    try:
        for _ in range(3000):
            if fsync.on(journal.path) > before:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # several intervals with nothing new written
        assert fsync.on(journal.path) == before + 1
    finally:
        flusher.cancel()


async def test_a_rotated_segments_tail_goes_with_the_next_flush(tmp_path: Path, fsync: FsyncCounter) -> None:
    journal = Journal(tmp_path, fsync="interval", fsync_interval=1.0)
    await journal.flush()
    journal.append(record(1))
    old = journal.rotate()
    assert fsync.on(old) == 1  # the header's flush only
    await journal.flush()
    assert fsync.on(old) == 2 and fsync.on(journal.path) == 1
    with claim_orphan(old) as claimed:
        assert claimed  # the flush let go of its duplicate descriptor, and so of the lock


def test_closing_an_interval_journal_flushes_it(tmp_path: Path, fsync: FsyncCounter) -> None:
    journal = Journal(tmp_path, fsync="interval")
    journal.append(record(1))
    journal.close()
    assert fsync.on(journal.path) == 1
