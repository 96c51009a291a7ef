"""Reading what a running gateway stored, straight from its SQLite file."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any


def wait_for_event(database: Path, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The usage event of ``request_id``, once the journal drain has written it."""
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(database) as connection:
            connection.row_factory = sqlite3.Row
            row = connection.execute("SELECT * FROM usage_events WHERE request_id = ?", (request_id,)).fetchone()
        if row is not None:
            return dict(row)
        if time.monotonic() > deadline:
            raise AssertionError(f"no usage event for {request_id} after {timeout}s")
        time.sleep(0.05)


def count_events(database: Path, request_id: str) -> int:
    with sqlite3.connect(database) as connection:
        (count,) = connection.execute(
            "SELECT count(*) FROM usage_events WHERE request_id = ?", (request_id,)
        ).fetchone()
    return int(count)
