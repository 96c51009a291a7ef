"""Work started without waiting for it, and a Redis subscription kept alive: what several components share.

Both exist so that a failure in the background is logged, never lost and never fatal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from gateway.core.throttled_log import ThrottledLog


class Background:
    """Tasks nobody awaits, referenced until they end (asyncio keeps only weak references to tasks);
    ``on_error`` hears of each one that failed."""

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._on_error = on_error

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    async def aclose(self) -> None:
        """Cancel what still runs and wait for it to end (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self._on_error(error)


async def subscribe_forever(
    redis: Any, channel: str, on_message: Callable[[Any], Awaitable[None]], lost: ThrottledLog, what: str
) -> None:
    """Hand each message's data on ``channel`` to ``on_message``; when the subscription breaks (Redis
    down), warn through ``lost`` and subscribe again a second later, until cancelled."""
    while True:
        try:
            pubsub = redis.pubsub()
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    await on_message(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            lost.warning("Redis %s subscription lost (%s); retrying", what, exc)
            await asyncio.sleep(1.0)
