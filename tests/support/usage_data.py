"""Known usage, written straight into the tables the journal writer fills, with the sums to expect.

Two customers, three keys, two models, four hours over two UTC days; one hour starts at midnight
UTC, which is still the previous day in New York: a day grouping done in the wrong zone shows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.customers import repository as customers
from gateway.db.models import UsageEvent, UsageRollup
from gateway.keys import repository as api_keys
from tests.support.usage_records import usage_record


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@dataclass
class Seeded:
    customers: dict[str, int] = field(default_factory=dict)  # name -> id
    keys: dict[str, int] = field(default_factory=dict)  # label -> id
    prefixes: dict[str, str] = field(default_factory=dict)  # label -> prefix
    event_ids: list[str] = field(default_factory=list)  # newest first


# (hour, customer, key label, model, requests, errors, cache hits, input, output, cost micros)
ROLLUPS = [
    ("2025-03-01T22:00", "acme", "acme-1", "model-a", 2, 0, 0, 100, 50, 1_500_000),
    ("2025-03-01T23:00", "acme", "acme-2", "model-b", 1, 1, 0, 10, 5, 250),
    ("2025-03-02T00:00", "acme", "acme-1", "model-a", 3, 0, 0, 300, 30, 3_000_001),
    ("2025-03-02T05:00", "beta", "beta-1", "model-a", 4, 0, 2, 40, 40, 40),
]

# Every cost micros above, summed per group.
BY_MODEL = {"model-a": (9, 4_500_041), "model-b": (1, 250)}  # requests, cost
BY_KEY = {"acme-1": (5, 4_500_001), "acme-2": (1, 250), "beta-1": (4, 40)}
BY_CUSTOMER = {"acme": (6, 4_500_251), "beta": (4, 40)}
BY_DAY = {"2025-03-01T00:00:00Z": (3, 1_500_250), "2025-03-02T00:00:00Z": (7, 3_000_041)}
TOTAL_COST = 4_500_291


async def seed_usage(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    seeded = Seeded()
    async with sessions.begin() as session:
        for name in ("acme", "beta"):
            seeded.customers[name] = (await customers.create(session, name)).id
        for label in ("acme-1", "acme-2", "beta-1"):
            owner = await customers.require(session, label.split("-")[0])
            issued = await api_keys.create(session, owner, name=label)
            seeded.keys[label], seeded.prefixes[label] = issued.info.id, issued.info.prefix
        for hour, customer, key, model, requests, errors, hits, tokens_in, tokens_out, cost in ROLLUPS:
            session.add(
                UsageRollup(
                    hour=at(hour),
                    customer_id=seeded.customers[customer],
                    api_key_id=seeded.keys[key],
                    model=model,
                    requests=requests,
                    errors=errors,
                    cache_hits=hits,
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost_micros=cost,
                    latency_ms_sum=100.0 * requests,
                )
            )
        seeded.event_ids = _add_events(session, seeded)
    return seeded


def _add_events(session: AsyncSession, seeded: Seeded) -> list[str]:
    """Five events of acme's first key; two share a timestamp, to test the paging tie-break."""
    times = ["2025-03-01T22:10", "2025-03-01T22:20", "2025-03-01T22:20", "2025-03-02T00:05", "2025-03-02T00:06"]
    for i, moment in enumerate(times):
        record = usage_record(
            f"req_{i}",
            customer_id=seeded.customers["acme"],
            api_key_id=seeded.keys["acme-1"],
            model="model-a",
            input_tokens=10 * i,
            output_tokens=i,
            latency_ms=12.5,
            cost_micros=1000 + i,
        )
        session.add(UsageEvent(**{**msgspec.structs.asdict(record), "created_at": at(moment)}))
    # Newest first; req_1 and req_2 share a time, and the larger request id comes first.
    return ["req_4", "req_3", "req_2", "req_1", "req_0"]
