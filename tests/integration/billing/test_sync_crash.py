"""`tollgate billing sync` killed between Stripe accepting a batch and recording it: the next run
sends the same events again and Stripe counts each once. Real processes, SQLite and Postgres."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from gateway.db.models import Customer, MeterEventRow
from tests.fakes.stripe_server import API_KEY, FakeStripe
from tests.integration.billing.conftest import Sessions, add_customer, hours_ago, use


def billing_config(database_url: str, stripe_url: str, directory: Path) -> Path:
    config: dict[str, Any] = {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}]}],
        "database_url": database_url,
        "stripe": {
            "api_key": API_KEY,
            "api_base": stripe_url,
            "meter_events_base": stripe_url,
            "settle_seconds": 0,
            "rate_limit_backoff_seconds": 0.01,
        },
    }
    path = directory / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tollgate(config: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "gateway", *args, "--config", str(config)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)


def run_tollgate(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command to its end (call it on a thread from a test's event loop)."""
    command = [sys.executable, "-m", "gateway", *args, "--config", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=os.environ)


async def test_a_sync_killed_after_stripe_accepted_its_batch_sends_it_again_and_stripe_counts_it_once(
    sessions: Sessions, database_url: str, fake_stripe: tuple[FakeStripe, str], tmp_path: Path
) -> None:
    fake, url = fake_stripe
    config = billing_config(database_url, url, tmp_path)
    acme, beta = await add_customer(sessions, "acme"), await add_customer(sessions, "beta")
    for i, hours in enumerate((5, 4, 3)):
        await use(sessions, acme, hours_ago(hours), 1000 + i, f"a{i}")
    await use(sessions, beta, hours_ago(2), 77, "b0")
    fake.stall_stream = True  # Stripe takes the batch, and the answer never comes back

    crashed = tollgate(config, "billing", "sync")
    deadline = time.monotonic() + 60
    while len(fake.received) < 4 and crashed.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(10)
    async with sessions() as session:
        pending = list((await session.execute(select(MeterEventRow.status))).scalars())
    assert len(fake.accepted) == 4 and pending == ["pending"] * 4

    fake.stall_stream = False
    rerun = await asyncio.to_thread(run_tollgate, config, "billing", "sync")

    assert rerun.returncode == 0, rerun.stderr
    assert "meter events sent: 4 (0.003080 USD)" in rerun.stdout
    assert sorted(fake.duplicates) == sorted(fake.accepted)  # every event arrived twice, counted once
    async with sessions() as session:
        stripe_ids = {
            name: ident for name, ident in await session.execute(select(Customer.name, Customer.stripe_customer_id))
        }
        statuses = list((await session.execute(select(MeterEventRow.status))).scalars())
    assert sum(fake.totals(stripe_ids["acme"] or "").values()) == 3003
    assert sum(fake.totals(stripe_ids["beta"] or "").values()) == 77
    assert statuses == ["sent"] * 4
