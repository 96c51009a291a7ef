"""A journal belongs to one database: its directory is named after it, each segment's header names it,
and a drain refuses a segment written for another database."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.metering.journal import Journal, drained_offset, read_batches, segment_header
from gateway.metering.journal_owner import (
    SegmentOwnership,
    database_identity,
    journal_directory,
    journal_owner,
)
from tests.support.usage_records import usage_record

MAIN = "postgresql+asyncpg://tollgate:secret@DB.example:5432/tollgate"


def test_the_same_database_has_one_identity_whatever_the_url_spells() -> None:
    same = [
        MAIN,
        "postgres://tollgate:other-password@db.example/tollgate",
        "postgresql://someone-else@db.example:5432/tollgate?ssl=require",
    ]
    assert {journal_owner(url).database for url in same} == {journal_owner(MAIN).database}
    assert database_identity(MAIN) == "postgresql://db.example:5432/tollgate"  # no user, no password
    others = [
        "postgresql+asyncpg://tollgate:secret@db.example:5432/billing",
        "postgresql+asyncpg://tollgate:secret@db.example:5433/tollgate",
        "postgresql+asyncpg://tollgate:secret@other.example:5432/tollgate",
        "sqlite+aiosqlite:///tollgate.db",
    ]
    assert len({journal_owner(url).database for url in [MAIN, *others]}) == 5


def test_a_sqlite_file_is_named_by_its_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = journal_owner("sqlite+aiosqlite:///.tollgate/tollgate.db")
    absolute = journal_owner(f"sqlite:///{tmp_path / '.tollgate' / 'tollgate.db'}")
    assert relative == absolute
    assert relative.database.startswith("sqlite-")


def test_each_database_gets_its_own_default_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    first = journal_directory(None, journal_owner(MAIN))
    second = journal_directory(None, journal_owner("sqlite+aiosqlite:///.tollgate/tollgate.db"))
    assert first != second
    assert first.parent == second.parent == Path(".tollgate/journal")
    assert journal_directory("/var/lib/tollgate/journal", journal_owner(MAIN)) == Path("/var/lib/tollgate/journal")


def test_segments_start_with_their_database_and_read_back_without_it(tmp_path: Path) -> None:
    owner = journal_owner(MAIN)
    journal = Journal(tmp_path, header=owner)
    assert segment_header(journal.path) == owner
    assert drained_offset(journal.path) == journal.size()  # the header is nothing to drain: no lag
    journal.append(usage_record("req_1"))
    for start in (0, drained_offset(journal.path)):  # also when the saved position was lost
        records = [r.request_id for b in read_batches(journal.path, start, 10) for r in b.records]
        assert records == ["req_1"]
    assert b"secret" not in journal.path.read_bytes()


def test_a_drain_refuses_segments_written_for_another_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ours = Journal(tmp_path, header=journal_owner(MAIN))
    theirs = Journal(tmp_path, header=journal_owner("sqlite+aiosqlite:////srv/other.db"))
    legacy = Journal(tmp_path)  # a segment from before headers: whoever drains the directory owns it
    ownership = SegmentOwnership(journal_owner(MAIN))
    with caplog.at_level(logging.ERROR, logger="tollgate.metering"):
        assert [ownership.owns(j.path) for j in (ours, theirs, legacy)] == [True, False, True]
        assert not ownership.owns(theirs.path)  # asked again: still refused, logged once
    assert ownership.refused == {theirs.path}
    assert len(caplog.records) == 1 and "sqlite:////srv/other.db" in caplog.text
    theirs.close()
    theirs.path.unlink()
    ownership.forget_missing()
    assert ownership.refused == set()


def test_segments_left_in_the_old_shared_directory_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    old = Journal(Path(".tollgate/journal"))  # the layout before journals belonged to a database
    old.append(usage_record("req_old"))
    old.close()
    owner = journal_owner(MAIN)
    with caplog.at_level(logging.WARNING, logger="tollgate.metering"):
        directory = journal_directory(None, owner)
    assert "1 usage journal segments" in caplog.text and str(directory) in caplog.text
