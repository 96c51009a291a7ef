"""The outcomes a rollout is judged on, as counts every gateway adds to: one count per latency
bucket of the successes, and one of the failures.

Counts add up across gateways where samples would not: the p99 of the sum is read from the summed
buckets. Buckets grow by 10 %, so a p99 is known to within 10 %, finer than any latency margin a
rollout would use. They live in Redis when it is configured (one hash per model, state version and
side, written with HINCRBY), else in the database (``rollout_tallies``, one row per bucket, added to
with an upsert).
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.inserts import insert_for
from gateway.db.models import RolloutTally

Counts = collections.Counter[int]
FAILED = -1  # the bucket of failures
GROWTH = 1.1
SMALLEST = 0.001  # seconds: bucket 0 holds everything up to 1 ms
LAST = 160  # 1 ms x 1.1^160 is about 4.2 hours: longer answers share the last bucket
KEEP_SECONDS = 30 * 86400  # Redis forgets a tally a month after its last count


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    error_rate: float
    p99: float  # seconds


def bucket_of(seconds: float) -> int:
    if seconds <= SMALLEST:
        return 0
    return min(LAST, math.ceil(math.log(seconds / SMALLEST, GROWTH)))


def upper_bound(bucket: int) -> float:
    return SMALLEST * GROWTH**bucket


def summarise(counts: Counts) -> Summary:
    """Requests, error rate and the p99 latency of the successes (the upper bound of its bucket)."""
    requests = sum(counts.values())
    if requests == 0:
        return Summary(0, 0.0, 0.0)
    failed = counts.get(FAILED, 0)
    successes = sorted((b, n) for b, n in counts.items() if b != FAILED and n > 0)
    wanted, seen, p99 = math.ceil(0.99 * (requests - failed)), 0, 0.0
    for bucket, count in successes:
        seen += count
        if seen >= wanted:
            p99 = upper_bound(bucket)
            break
    return Summary(requests, failed / requests, p99)


class Tallies(Protocol):
    async def add(self, model: str, version: int, counts: dict[str, Counts]) -> None: ...

    async def read(self, model: str, version: int) -> dict[str, Counts]: ...


class DatabaseTallies:
    """The tallies in ``rollout_tallies``: every gateway adds its counts with one upsert."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, model: str, version: int, counts: dict[str, Counts]) -> None:
        rows = [
            {"model": model, "version": version, "side": side, "bucket": bucket, "count": count}
            for side, counted in counts.items()
            for bucket, count in counted.items()
            if count
        ]
        if not rows:
            return
        async with self._sessions.begin() as session:
            statement = insert_for(session)(RolloutTally).values(rows)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["model", "version", "side", "bucket"],
                    set_={"count": RolloutTally.count + statement.excluded.count},
                )
            )

    async def read(self, model: str, version: int) -> dict[str, Counts]:
        query = select(RolloutTally.side, RolloutTally.bucket, RolloutTally.count).where(
            RolloutTally.model == model, RolloutTally.version == version
        )
        found: dict[str, Counts] = collections.defaultdict(collections.Counter)
        async with self._sessions() as session:
            for side, bucket, count in await session.execute(query):
                found[side][bucket] += count
        return found


class RedisTallies:
    """The tallies in Redis hashes ``<namespace>:rollout-tally:<model>:<version>:<side>``."""

    def __init__(self, redis: Any, namespace: str) -> None:
        self._redis = redis  # redis-py: a few commands a second, off the request path
        self._prefix = f"{namespace}:rollout-tally:"

    def _key(self, model: str, version: int, side: str) -> str:
        return f"{self._prefix}{model}:{version}:{side}"

    async def add(self, model: str, version: int, counts: dict[str, Counts]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for side, counted in counts.items():
                key = self._key(model, version, side)
                for bucket, count in counted.items():
                    pipe.hincrby(key, str(bucket), count)
                if counted:
                    pipe.expire(key, KEEP_SECONDS)
            await pipe.execute()

    async def read(self, model: str, version: int) -> dict[str, Counts]:
        found: dict[str, Counts] = {}
        for side in ("candidate", "stable"):
            stored = await self._redis.hgetall(self._key(model, version, side))
            found[side] = collections.Counter({int(bucket): int(count) for bucket, count in stored.items()})
        return found
