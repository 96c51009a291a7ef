"""Gauges read off live state: a pool's queue, replicas and circuits at scrape time, and how long the
oldest meter event has waited for Stripe."""

from __future__ import annotations

import datetime as dt
import re
import time

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backends.base import BackendContext
from backends.http import build_client
from billing.job import BillingJob
from gateway.config.stripe import StripeSettings
from gateway.customers import repository as customers
from gateway.db.models import MeterEventRow
from gateway.metrics import Metrics
from gateway.routing.metrics import publish_routing_state
from gateway.routing.replicas import Circuit
from gateway.routing.table import RoutingTable
from gateway.settings import Settings
from gateway.tokens import Tokenizer

POOL = {"type": "vllm", "urls": ["http://10.0.0.1:8000/v1", "http://10.0.0.2:8000/v1"], "max_outstanding": 4}


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", metrics.render().decode(), re.MULTILINE)
    assert found, f"no {name}{{{wanted}}}"
    return float(found.group(1))


async def test_replica_health_circuits_and_queue_depth_are_published_when_scraped() -> None:
    raw = {"backends": {"pool": POOL}, "models": [{"name": "m", "deployments": [{"backend": "pool", "model": "m"}]}]}
    http = build_client()
    try:
        table = RoutingTable(msgspec.convert(raw, Settings), BackendContext(http, Tokenizer()), time.monotonic, None)
        first, second = table.pools["pool"].replicas
        first.breaker.state, second.healthy = Circuit.OPEN, False
        metrics = Metrics()
        publish_routing_state(table, metrics)
    finally:
        await http.close()
    assert sample(metrics, "tollgate_circuit_state", pool="pool", replica="http://10.0.0.1:8000/v1") == 2
    assert sample(metrics, "tollgate_circuit_state", pool="pool", replica="http://10.0.0.2:8000/v1") == 0
    assert sample(metrics, "tollgate_replica_up", pool="pool", replica="http://10.0.0.1:8000/v1") == 1
    assert sample(metrics, "tollgate_replica_up", pool="pool", replica="http://10.0.0.2:8000/v1") == 0
    assert sample(metrics, "tollgate_queue_depth", pool="pool") == 0


async def test_the_billing_job_reports_how_long_the_oldest_meter_event_has_waited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    reported: list[float] = []
    job = BillingJob(sessions, StripeSettings(api_key="sk_test", api_base="http://127.0.0.1:9"), reported.append)
    try:
        assert await job._lag_seconds() == 0  # nothing waits
        async with sessions.begin() as session:
            customer = await customers.create(session, "lagging-co")
            now = dt.datetime.now(dt.UTC)
            for minutes, status in ((10, "sent"), (3, "pending"), (1, "pending")):
                session.add(
                    MeterEventRow(
                        identifier=f"tollgate-{customer.id}-{minutes}",
                        customer_id=customer.id,
                        stripe_customer_id="cus_1",
                        hour=now.replace(minute=0, second=0, microsecond=0),
                        value_micros=100,
                        status=status,
                        planned_at=now - dt.timedelta(minutes=minutes),
                    )
                )
        lag = await job._lag_seconds()
        await job.run_once()  # Stripe is unreachable: the sync fails, the lag is still reported
    finally:
        await job.aclose()
    assert 180 <= lag < 240
    assert len(reported) == 1 and 180 <= reported[0] < 240
