"""While Redis is down, the pool-lease renewal warns once per interval, not on every pass per key."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.core.redis_pipe import RedisPipe
from gateway.routing.leases import Bounds, SharedLeases


class _DownAfterTake:
    """Grants the first lease, then fails every call as a killed Redis does."""

    def __init__(self) -> None:
        self.calls = 0

    async def run(self, _script: object, _keys: list[str], _args: list[Any], *, hold: bool = False) -> Any:
        self.calls += 1
        if self.calls == 1:  # the take: granted on the first replica
            return [1, 0, 1]
        raise RedisConnectionError("Connection refused")


async def test_renewal_failures_are_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    pipe = _DownAfterTake()
    leases = SharedLeases(
        cast(RedisPipe, pipe),
        "t",
        "t:freed",
        lambda pool: pool,
        lease_seconds=0.003,  # renews every millisecond
        poll_seconds=1.0,
        clock=lambda: 1000.0,  # no time passes: one warning at most
    )
    await leases.take(Bounds("p", 1, 1, 1.0), lambda: ["r1"], 0)
    with caplog.at_level(logging.WARNING, "tollgate.routing"):
        renewing = asyncio.create_task(leases.renew_forever())
        async with asyncio.timeout(30):
            while pipe.calls < 20:
                await asyncio.sleep(0.01)
        renewing.cancel()
    renewals = [r.getMessage() for r in caplog.records if "renew" in r.getMessage()]
    assert len(renewals) == 1, renewals
    assert renewals[0].startswith("could not renew the pool leases of t:pool:p:leases:r1")
