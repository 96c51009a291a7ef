"""The admission queue of a pool: where requests wait while every replica is saturated.

Bounded in length and in time: a request that finds it full, or that has waited ``max_wait``, is
refused with 503 and ``Retry-After``. Waiters are served by priority tier (lower first, as vLLM
orders its ``priority`` field), then in arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable

from gateway.core.errors import Overloaded


class WaitQueue:
    def __init__(self, name: str, size: int, max_wait: float) -> None:
        self._name = name
        self._size = size
        self._max_wait = max_wait
        self._heap: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    async def wait_for_room(self, priority: int, has_room: Callable[[], bool]) -> None:
        """Return at once when there is room and nobody waits; otherwise queue until woken."""
        if has_room() and not self._heap:
            return
        if len(self._heap) >= self._size:
            raise refusal(self._name, f"its queue is full ({self._size} requests wait)", self._max_wait)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (priority, next(self._order), turn)
        heapq.heappush(self._heap, entry)
        try:
            async with asyncio.timeout(self._max_wait):
                await turn
        except BaseException as exc:
            # A timeout cancels ``turn`` itself; one that was woken first must hand the room on.
            if turn.done() and not turn.cancelled():
                self.wake()
            elif entry in self._heap:
                self._heap.remove(entry)
                heapq.heapify(self._heap)
            if isinstance(exc, TimeoutError):
                raise refusal(
                    self._name, f"the request waited {self._max_wait:g} s for a free replica", self._max_wait
                ) from None
            raise

    def wake(self) -> None:
        """A replica has room again: the first waiter in order goes."""
        while self._heap:
            _, _, turn = heapq.heappop(self._heap)
            if not turn.done():
                turn.set_result(None)
                return


def refusal(pool: str, why: str, max_wait: float) -> Overloaded:
    """The 503 of a pool whose replicas are all busy and whose queue cannot take the request."""
    retry_after = str(max(1, math.ceil(max_wait)))
    return Overloaded(
        f"Every replica of '{pool}' is busy and {why}; retry later.", headers={"retry-after": retry_after}
    )
