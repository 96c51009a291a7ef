"""The append-only journal: whole lines only, positions kept beside segments, orphans claimable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
