"""Whether Redis answers, seen from this process: for ``/readyz``, a gauge and one log line.

With ``admission_fail_open`` a Redis outage is silent to clients (requests are admitted without their
limits), so the operator has to be told some other way. A lifespan task pings Redis on the hot path's
own connection every ``interval`` seconds, traffic or not; ``/readyz`` reports ``degraded`` with the
reason while it does not answer, ``tollgate_admission_store_up`` is 0, and a warning is logged at
most once per 30 s (:class:`~gateway.core.throttled_log.ThrottledLog`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.core.redis_pipe import RedisPipe
from gateway.core.throttled_log import ThrottledLog
from gateway.metrics import Metrics

log = logging.getLogger("tollgate.admission")


@dataclass(slots=True)
class RedisWatch:
    pipe: RedisPipe
    metrics: Metrics
    fail_open: bool
    clock: Callable[[], float] = time.monotonic
    down_since: float | None = None
    error: str = ""
    _log: ThrottledLog = field(default_factory=lambda: ThrottledLog(log))

    @property
    def policy(self) -> str:
        return "admitting requests without their limits" if self.fail_open else "refusing limited requests (503)"

    @property
    def down_for(self) -> float | None:
        return None if self.down_since is None else self.clock() - self.down_since

    async def check(self) -> None:
        try:
            await self.pipe.call("PING")
        except Exception as exc:  # whatever the reason, the hot path cannot use it either
            self.error = str(exc) or type(exc).__name__
            if self.down_since is None:
                self.down_since = self.clock()
            self.metrics.admission_store_up.set(0)
            self._log.warning("Redis cannot be reached (%s); %s until it answers", self.error, self.policy)
            return
        if self.down_since is not None:
            self._log.recovered("Redis answers again after %.0f s; limits are enforced again", self.down_for)
            self.down_since, self.error = None, ""
        self.metrics.admission_store_up.set(1)

    async def watch_forever(self, interval: float = 1.0) -> None:
        while True:
            await self.check()
            await asyncio.sleep(interval)
