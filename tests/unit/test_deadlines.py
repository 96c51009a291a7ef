"""The router's first-token bounds: asyncio.timeout's behaviour, with timers shared per tick."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from gateway.routing.deadlines import Deadlines

TICK = 0.01


async def test_a_bound_that_passes_raises_timeout_error_no_earlier_than_its_seconds() -> None:
    deadlines = Deadlines(TICK)
    started = time.monotonic()
    with pytest.raises(TimeoutError), deadlines.bound(0.05):
        await asyncio.sleep(5)
    elapsed = time.monotonic() - started
    assert 0.05 <= elapsed < 1.0


async def test_work_done_in_time_is_not_cancelled_later() -> None:
    deadlines = Deadlines(TICK)
    with deadlines.bound(0.03):
        await asyncio.sleep(0)
    await asyncio.sleep(0.1)  # past the bound: had it stayed armed, this sleep would be cancelled
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_none_bounds_nothing() -> None:
    deadlines = Deadlines(TICK)
    with deadlines.bound(None):
        await asyncio.sleep(0.03)


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(TICK)

    async def bounded() -> None:
        with deadlines.bound(30):
            await asyncio.sleep(5)

    task = asyncio.ensure_future(bounded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_bound_inside_a_wider_timeout_leaves_the_outer_one_its_own() -> None:
    deadlines = Deadlines(TICK)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.03):  # the outer bound fires first: it is its TimeoutError
            with deadlines.bound(10):
                await asyncio.sleep(5)
    with pytest.raises(TimeoutError), deadlines.bound(0.02):  # and an inner one still works after it
        await asyncio.sleep(5)


async def test_bounds_ending_in_the_same_tick_share_one_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_at = loop.call_at

    def counted(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__self__", None) is deadlines:  # the bounds' timers, not the sleeps'
            armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    deadlines = Deadlines(tick=1.0)
    monkeypatch.setattr(loop, "call_at", counted)
    outcomes: list[str] = []

    async def bounded(seconds: float) -> None:
        try:
            with deadlines.bound(seconds):
                await asyncio.sleep(5)
        except TimeoutError:
            outcomes.append("timed out")

    await asyncio.gather(*(bounded(0.2) for _ in range(50)))
    assert outcomes == ["timed out"] * 50
    assert len(armed) <= 2  # one timer (two if the bounds straddle a tick boundary), not fifty
