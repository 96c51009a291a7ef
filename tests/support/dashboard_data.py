"""Usage for the dashboard's tests, written through the real journal writer (``ingest``), so the
rollups and their latency and error breakdowns are exactly what metering would have produced.

All of it falls in the current UTC hour, a minute or more before ``now``: the 24-hour range shows
it in its last period, the 7-day range in today's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.keys import repository as api_keys
from gateway.metering.ingest import ingest
from gateway.metering.record import UsageRecord
from tests.support.usage_records import usage_record


@dataclass
class DashboardSeed:
    now: dt.datetime
    customers: dict[str, int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    records: list[UsageRecord] = field(default_factory=list)

    def cost(self, customer: str) -> int:
        return sum(r.cost_micros for r in self.records if r.customer_id == self.customers[customer])


def _moment(now: dt.datetime, minutes_ago: int) -> float:
    hour = now.replace(minute=0, second=0, microsecond=0)
    return max(hour, now - dt.timedelta(minutes=minutes_ago)).timestamp()


async def seed_dashboard(sessions: async_sessionmaker[AsyncSession], now: dt.datetime) -> DashboardSeed:
    """acme: 10 requests of model-a (9 ok, 100 ms to 900 ms, streams with a TTFT; 1 upstream 503),
    2 cache hits that saved 5,000 micro-dollars each; beta: 4 requests of model-b, 1 gateway error."""
    seed = DashboardSeed(now)
    async with sessions.begin() as session:
        for name in ("acme", "beta"):
            owner = await customers.create(session, name)
            seed.customers[name] = owner.id
            seed.keys[name] = (await api_keys.create(session, owner, name=f"{name}-main")).info.id
        seed.records = _records(seed, now)
        await ingest(session, seed.records)
    return seed


def _records(seed: DashboardSeed, now: dt.datetime) -> list[UsageRecord]:
    acme = {"customer_id": seed.customers["acme"], "api_key_id": seed.keys["acme"], "model": "model-a"}
    beta = {"customer_id": seed.customers["beta"], "api_key_id": seed.keys["beta"], "model": "model-b"}
    records = [
        usage_record(
            f"acme-{i}",
            created_at=_moment(now, 1 + i),
            latency_ms=100.0 * (i + 1),
            ttft_ms=40.0,
            streamed=True,
            input_tokens=100,
            output_tokens=20,
            cost_micros=1_000 + i,
            **acme,
        )
        for i in range(9)
    ]
    records[0] = usage_record("acme-0", created_at=_moment(now, 1), latency_ms=5.0, cache_status="hit",
                              saved_micros=5_000, **acme)  # fmt: skip
    records[1] = usage_record("acme-1", created_at=_moment(now, 2), latency_ms=5.0, cache_status="hit",
                              saved_micros=5_000, **acme)  # fmt: skip
    records.append(usage_record("acme-err", created_at=_moment(now, 3), latency_ms=30.0, status=503,
                                outcome="upstream_error", **acme))  # fmt: skip
    for i in range(3):
        records.append(usage_record(f"beta-{i}", created_at=_moment(now, 2), latency_ms=50.0, cost_micros=7, **beta))
    records.append(usage_record("beta-err", created_at=_moment(now, 2), latency_ms=2.0, status=500,
                                outcome="gateway_error", **beta))  # fmt: skip
    return records
