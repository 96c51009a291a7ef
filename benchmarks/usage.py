"""The metered variants' evidence that metering keeps up: usage journal lag and usage rows.

Everything is read from the bench process, from the files a metered gateway writes: the journal
lag is the bytes of ``<journal_dir>/*.jsonl`` beyond their ``.done`` offsets (the position up to
which the drain has committed to the database); the rows are counted in the variant's SQLite
``usage_events`` and compared with the answers the load generator received from that variant.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.metering.journal import SUFFIX, drained_offset

LAG_INTERVAL_SECONDS = 0.25  # how often the lag is sampled while a c=64 slot runs
AFTER_SECONDS = 1.5  # the second sample, this long after the slot's last answer


@dataclass(frozen=True, slots=True)
class LagEvidence:
    """One metered variant in one phase, the worst over its slots: the peak lag sampled during the
    load, the lag when the load stopped and :data:`AFTER_SECONDS` later, in bytes; ``written`` bytes
    were appended to the journal over ``seconds`` of load."""

    peak: int = 0
    at_end: int = 0
    after: int = 0
    written: int = 0
    seconds: float = 0.0

    def merge(self, other: LagEvidence) -> LagEvidence:
        return LagEvidence(
            max(self.peak, other.peak),
            max(self.at_end, other.at_end),
            max(self.after, other.after),
            self.written + other.written,
            self.seconds + other.seconds,
        )

    @property
    def write_rate(self) -> float:
        """Journal bytes appended per second under load."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class UsageCount:
    """After the last phase: the answers the load generator received from the variant (warm-up and
    settling runs included), the rows in its ``usage_events`` (-1 when the database could not be
    read), and the journal lag left when the count was taken."""

    answered: int
    rows: int
    lag_left: int

    @property
    def complete(self) -> bool:
        return self.rows == self.answered and self.lag_left == 0


class LagWatch:
    """Samples one journal directory every :data:`LAG_INTERVAL_SECONDS` while a slot runs."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._started = time.perf_counter()
        self._start_sizes: dict[Path, int] = {}
        self._sizes: dict[Path, int] = {}
        self._peak = 0
        self.sample()
        self._start_sizes = dict(self._sizes)
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> int:
        """The lag now; it also updates the peak and the bytes seen written."""
        lag = 0
        for segment in self._directory.glob(f"*{SUFFIX}"):
            try:
                size = segment.stat().st_size
            except FileNotFoundError:  # drained and removed meanwhile
                continue
            self._sizes[segment] = max(size, self._sizes.get(segment, 0))
            lag += max(0, size - drained_offset(segment))
        self._peak = max(self._peak, lag)
        return lag

    async def _every(self) -> None:
        while True:
            await asyncio.sleep(LAG_INTERVAL_SECONDS)
            self.sample()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._every())

    def stop(self) -> tuple[int, float]:
        """Stop sampling; the lag at this moment, and when it was taken."""
        if self._task is not None:
            self._task.cancel()
        return self.sample(), time.perf_counter()

    def evidence(self, at_end: int, ended: float) -> LagEvidence:
        """The slot's evidence; call it :data:`AFTER_SECONDS` after :meth:`stop`."""
        after = self.sample()
        written = sum(size - self._start_sizes.get(segment, 0) for segment, size in self._sizes.items())
        return LagEvidence(self._peak, at_end, after, written, ended - self._started)


def journal_lag(directory: Path) -> int:
    lag = 0
    for segment in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(FileNotFoundError):
            lag += max(0, segment.stat().st_size - drained_offset(segment))
    return lag


async def count_usage(journal: Path, database: Path, answered: int, within: float = 15.0) -> UsageCount:
    """Wait (up to ``within`` seconds) for the journal to be drained, then count the usage rows."""
    deadline = time.monotonic() + within
    lag = journal_lag(journal)
    while lag and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        lag = journal_lag(journal)
    return UsageCount(answered, usage_rows(database), lag)


def usage_rows(database: Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
            (rows,) = db.execute("SELECT count(*) FROM usage_events").fetchone()
    except sqlite3.Error:
        return -1
    return int(rows)


def kib(size: int) -> str:
    return f"{size / 1024:,.1f}"
