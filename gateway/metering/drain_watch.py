"""Keeping the journal drain process alive.

The drain is the only way usage reaches the database: when its process dies (killed by the OOM killer
or by hand, a crash in a library) requests are still served and metered into the journal, but nothing
is stored. The serving process watches it, says so (``/readyz`` reports ``drain: down`` with the
journal's backlog, the ``tollgate_journal_drain_up`` gauge drops to 0, one error line is logged) and
starts a new one after a short pause, which replays the journal from the saved positions: nothing is
lost or counted twice. A drain that keeps dying is restarted with a growing pause (up to
``MAX_PAUSE``), so that a crash loop does not spin; one that stayed up for ``STABLE_SECONDS`` starts
again from ``FIRST_PAUSE``. Each restart counts in ``tollgate_journal_drain_restarts_total``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.metering.drain import JournalDrain
from gateway.metrics import Metrics

log = logging.getLogger("tollgate.metering")

FIRST_PAUSE = 1.0
MAX_PAUSE = 30.0
STABLE_SECONDS = 60.0


@dataclass(slots=True)
class DrainWatch:
    drain: JournalDrain
    metrics: Metrics
    first_pause: float = FIRST_PAUSE
    clock: Callable[[], float] = time.monotonic

    async def watch_forever(self, interval: float = 0.25) -> None:
        """A lifespan task: look every ``interval`` seconds, restart a dead drain."""
        pause, started = self.first_pause, self.clock()
        self.metrics.journal_drain_up.set(1)
        while True:
            await asyncio.sleep(interval)
            if self.drain.alive:
                continue
            if self.clock() - started > STABLE_SECONDS:
                pause = self.first_pause
            await self._restart(pause)
            pause, started = min(pause * 2, MAX_PAUSE), self.clock()

    async def _restart(self, pause: float) -> None:
        self.metrics.journal_drain_up.set(0)
        log.error(
            "usage journal drain process %s died (exit code %s); usage waits in the journal (%d bytes);"
            " restarting it in %.0f s",
            self.drain.pid,
            self.drain.exitcode,
            self.drain.lag_bytes(),
            pause,
        )
        await asyncio.sleep(pause)
        self.drain.restart()
        self.metrics.journal_drain_restarts.inc()
        self.metrics.journal_drain_up.set(1)
        log.warning("usage journal drain restarted as process %s", self.drain.pid)
