"""Screenshots of every dashboard page, for the docs: ``python -m tests.e2e.dashboard_screenshots``.

Starts a gateway on a fresh Postgres database, meters a week of made-up but plausible traffic
through the real journal writer, signs in with headless Chromium and saves one PNG per page in
``docs/dashboard/`` (or the folder given).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import sys
import tempfile
import uuid
from pathlib import Path

from gateway.customers import credit_ledger as credits
from gateway.customers import repository as customers
from gateway.db import migrate
from gateway.keys import repository as api_keys
from gateway.metering.ingest import ingest
from gateway.metering.record import UsageRecord
from tests.e2e.test_dashboard_browser import TOKEN, dashboard_config
from tests.support.browser import chromium, sign_in
from tests.support.databases import empty_database, open_sessions
from tests.support.gateway_process import running_gateway
from tests.support.usage_records import usage_record

PAGES = ["usage", "usage?by=model", "cache", "latency", "errors", "customers", "billing", "keys"]
CUSTOMERS = {"acme": 5.0, "globex": 3.0, "initech": 1.5, "umbrella": 0.7}  # relative traffic
MODELS = {"model-a": (900.0, 2.0), "model-b": (250.0, 0.4)}  # median ms, micro-dollars per token


def traffic(owners: dict[str, tuple[int, int]], now: dt.datetime, count: int) -> list[UsageRecord]:
    """``count`` requests over the last seven days, busier in the (UTC) afternoon."""
    rng = random.Random(8)
    names, weights = list(CUSTOMERS), list(CUSTOMERS.values())
    records = []
    for i in range(count):
        customer = rng.choices(names, weights)[0]
        model = rng.choice(list(MODELS))
        median, price = MODELS[model]
        ago = dt.timedelta(hours=rng.triangular(0, 7 * 24, 2 * 24), minutes=rng.random() * 60)
        hit = rng.random() < 0.18
        failed = not hit and rng.random() < 0.03
        tokens = int(rng.lognormvariate(6, 0.6))
        cost = 0 if hit or failed else int(tokens * price)
        records.append(
            usage_record(
                f"shot-{i}",
                created_at=(now - ago).timestamp(),
                customer_id=owners[customer][0],
                api_key_id=owners[customer][1],
                model=model,
                streamed=True,
                input_tokens=tokens,
                output_tokens=tokens // 4,
                latency_ms=3.0 if hit else rng.lognormvariate(0, 0.5) * median,
                ttft_ms=None if hit else rng.lognormvariate(0, 0.4) * median / 5,
                cache_status="hit" if hit else "miss",
                saved_micros=int(tokens * price) if hit else 0,
                cost_micros=cost,
                status=rng.choice((502, 503, 504, 429)) if failed else 200,
                outcome="upstream_error" if failed else "ok",
            )
        )
    return records


async def seed(url: str, now: dt.datetime) -> None:
    async with open_sessions(url) as sessions, sessions.begin() as session:
        owners = {}
        for name in CUSTOMERS:
            owner = await customers.create(session, name)
            key = await api_keys.create(session, owner, name=f"{name}-prod")
            owners[name] = (owner.id, key.info.id)
            await credits.add(session, owner, 25_000_000, "topup", f"topup:{uuid.uuid4().hex}", "welcome credit")
        await ingest(session, traffic(owners, now, 6000))


async def main(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        async with empty_database("postgres", Path(work)) as url:
            await migrate.upgrade(url)
            await seed(url, dt.datetime.now(dt.UTC))
            with running_gateway(dashboard_config(url), Path(work), env={"TOLLGATE_ADMIN_TOKEN": ""}) as gateway:
                async with chromium() as browser:
                    page = await browser.new_page(viewport={"width": 1200, "height": 900})
                    await sign_in(page, gateway, TOKEN)
                    for name in PAGES:
                        await page.goto(f"{gateway}/dashboard/{name}")
                        target = folder / f"{name.replace('?by=', '-by-')}.png"
                        await page.screenshot(path=str(target), full_page=True)
                        print(target)


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/dashboard")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(target))
