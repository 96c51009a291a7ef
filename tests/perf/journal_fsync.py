"""What ``journal_fsync`` costs: usage journal appends per second with each mode, relative to ``never``.

One process appends usage records (as the meter writes them) to a journal on the disk the checkout is
on, as fast as it can, for ``SLOT_SECONDS`` per mode; the modes take turns for ``ROUNDS`` rounds so
that all see the same machine state, and each mode's figure is the median over rounds. The appends
run on an event loop that yields every ``YIELD_EVERY`` appends, with the journal's flusher task
beside them, as in the gateway (``interval`` flushes in a worker thread). Beside the rate, the longest
single append. Run: ``python -m tests.perf.journal_fsync --write
docs/bench-journal-fsync.md``.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gateway.metering.journal import FsyncMode, Journal
from gateway.metering.journal_owner import journal_owner
from tests.perf.reporting import heading, report_main
from tests.support.usage_records import usage_record

ROUNDS = 5
SLOT_SECONDS = 2.0
INTERVAL_SECONDS = 1.0  # journal_fsync_interval_seconds' default
YIELD_EVERY = 32
MODES: tuple[FsyncMode, ...] = ("never", "interval", "always")


@dataclass(slots=True)
class Slot:
    appends: int
    seconds: float
    longest: float  # seconds, the slowest single append

    @property
    def rate(self) -> float:
        return self.appends / self.seconds


async def run_slot(directory: Path, mode: FsyncMode) -> Slot:
    header = journal_owner("postgresql://bench@127.0.0.1/tollgate")
    journal = Journal(directory, header=header, fsync=mode, fsync_interval=INTERVAL_SECONDS)
    flusher = asyncio.create_task(journal.sync_forever())  # as the gateway's lifespan runs it
    records = [usage_record(f"req_{n:08d}", input_tokens=812, output_tokens=230, cost_micros=1502) for n in range(512)]
    appends, longest = 0, 0.0
    start = time.perf_counter()
    end = start + SLOT_SECONDS
    now = start
    while now < end:
        journal.append(records[appends % len(records)])
        after = time.perf_counter()
        longest, appends = max(longest, after - now), appends + 1
        if appends % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # a serving loop yields between requests: the flusher's turn
        now = time.perf_counter()
    flusher.cancel()
    journal.close()
    return Slot(appends, now - start, longest)


def measured(command: str) -> str:
    slots: dict[FsyncMode, list[Slot]] = {mode: [] for mode in MODES}
    Path(".tollgate").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=".tollgate", prefix="bench-journal-") as directory:
        for turn in range(ROUNDS):
            for mode in MODES[turn % len(MODES) :] + MODES[: turn % len(MODES)]:
                slots[mode].append(asyncio.run(run_slot(Path(directory), mode)))
                for path in Path(directory).iterdir():
                    path.unlink()
    never = statistics.median(slot.rate for slot in slots["never"])
    load = ", ".join(f"{minutes:.1f}" for minutes in os.getloadavg())
    lines = heading(
        "Usage journal fsync modes",
        command,
        f"the journal on the checkout's disk; {ROUNDS} rounds of {SLOT_SECONDS:.0f} s per mode, medians over"
        f" rounds; load average at the end {load} (a machine shared with other work)",
    )
    lines += [
        "",
        "| `journal_fsync` | appends/s | relative to `never` | µs per append | longest append (ms, max over rounds) |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        rate = statistics.median(slot.rate for slot in slots[mode])
        longest = max(slot.longest for slot in slots[mode]) * 1000
        lines.append(f"| `{mode}` | {rate:,.0f} | {rate / never:.3f} | {1e6 / rate:.1f} | {longest:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    report_main("tests.perf.journal_fsync", __doc__, measured)


if __name__ == "__main__":
    main()
