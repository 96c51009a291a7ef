"""A warning that repeats while a dependency stays down, logged at most once per interval.

An outage of Redis touches every request and every retry loop: logged each time, it buries the log
(twice a second and more, measured with a killed Redis). Each component keeps its own
:class:`ThrottledLog`; the first warning of an outage goes out at once, the repeats are counted and
reported with the next line.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

LOG_EVERY_SECONDS = 30.0


@dataclass(slots=True)
class ThrottledLog:
    logger: logging.Logger
    every: float = LOG_EVERY_SECONDS
    clock: Callable[[], float] = time.monotonic
    _last: float = -math.inf
    _quiet: int = 0

    def warning(self, message: str, *args: object) -> None:
        now = self.clock()
        if now - self._last < self.every:
            self._quiet += 1
            return
        if self._quiet:
            message += " (%d more like it not logged in the last %.0f s)"
            args = (*args, self._quiet, now - self._last)
        self._last, self._quiet = now, 0
        self.logger.warning(message, *args)

    def recovered(self, message: str, *args: object) -> None:
        """The dependency answers again: say so once (if a warning was logged), and log the next outage at once."""
        if self._last != -math.inf:
            self.logger.warning(message, *args)
        self._last, self._quiet = -math.inf, 0
