"""Billing through a running gateway: a prepaid customer out of credit tops up through Checkout, and
Stripe's signed webhook lets its requests through; the gateway's own job sends usage to the meter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.customers import repository as customers
from tests.fakes.stripe_server import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.integration.billing.conftest import hours_ago, use
from tests.support.databases import open_sessions
from tests.support.gateway_process import create_key, running_gateway

TOKEN = "admin-secret"
PRICE = {"input_per_mtok": "100", "output_per_mtok": "100"}


def _config(stripe_url: str, workdir: Path) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator", "min_tokens": 20, "max_tokens": 20}},
        "models": [{"name": "sim-chat", "deployments": [{"backend": "sim", "model": "sim"}], "pricing": PRICE}],
        "database_url": f"sqlite+aiosqlite:///{workdir / 'tollgate.db'}",
        "journal_dir": str(workdir / "journal"),
        "admin_token": TOKEN,
        "credit_poll_seconds": 0.2,
        "stripe": {
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": stripe_url,
            "meter_events_base": stripe_url,
            "sync_interval_seconds": 0.5,
            "settle_seconds": 0,
        },
    }


async def _earlier_usage(database_url: str) -> None:
    """Usage two hours ago, as a previous run of the gateway would have stored it."""
    async with open_sessions(database_url) as sessions:
        async with sessions() as session:
            customer = await customers.require(session, "prepaid-co")
        await use(sessions, customer, hours_ago(2), 4321, "earlier")


@pytest.fixture
def gateway(fake_stripe: tuple[FakeStripe, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    config = _config(fake_stripe[1], tmp_path)
    key = create_key(config, tmp_path, "prepaid-co")
    asyncio.run(_earlier_usage(config["database_url"]))
    with running_gateway(config, tmp_path, env={"TOLLGATE_ADMIN_TOKEN": ""}) as url:
        yield url, key


async def _chat(http: httpx.AsyncClient, url: str, key: str) -> httpx.Response:
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}
    return await http.post(f"{url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"})


async def test_a_checkout_paid_through_stripe_lets_a_prepaid_customer_back_in(
    gateway: tuple[str, str], fake_stripe: tuple[FakeStripe, str]
) -> None:
    url, key = gateway
    fake = fake_stripe[0]
    admin = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        patched = await http.patch(f"{url}/admin/customers/prepaid-co", json={"prepaid": True}, headers=admin)
        assert patched.status_code == 200, patched.text
        refused = await _poll(lambda: _chat(http, url, key), 402)
        made = await http.post(f"{url}/admin/customers/prepaid-co/checkout", json={"usd": "0.50"}, headers=admin)
        assert made.status_code == 201, made.text
        checkout = made.json()
        payload = fake.event("checkout.session.completed", fake.complete(checkout["id"]))

        forged = await http.post(f"{url}/stripe/webhook", content=payload, headers={"stripe-signature": "t=1,v1=0"})
        not_text = await http.post(
            f"{url}/stripe/webhook", content=b"\xff" + payload, headers={"stripe-signature": "t=1"}
        )
        signed = {"stripe-signature": fake.sign(payload), "content-type": "application/json"}
        delivered = [(await http.post(f"{url}/stripe/webhook", content=payload, headers=signed)) for _ in range(2)]
        served = await _poll(lambda: _chat(http, url, key), 200)
        credits = (await http.get(f"{url}/admin/customers/prepaid-co/credits", headers=admin)).json()

    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert (checkout["usd"], checkout["url"]) == ("0.500000", f"https://checkout.stripe.com/c/pay/{checkout['id']}")
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "invalid_signature"
    assert not_text.status_code == 400 and not_text.json()["error"]["code"] == "invalid_event"  # was a 500
    assert [r.status_code for r in delivered] == [200, 200]
    assert [r.json()["duplicate"] for r in delivered] == [False, True]
    assert served.headers["x-tollgate-cost-usd"]
    stripe_entries = [e for e in credits["data"] if e["kind"] == "stripe"]
    assert [e["amount_usd"] for e in stripe_entries] == ["0.500000"]


async def test_the_gateway_job_sends_closed_hours_to_the_meter_and_the_admin_api_shows_it(
    gateway: tuple[str, str], fake_stripe: tuple[FakeStripe, str]
) -> None:
    url, key = gateway
    fake = fake_stripe[0]
    admin = {"authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(timeout=30) as http:
        unauthorized = [
            await http.get(f"{url}/admin/billing"),
            await http.post(f"{url}/admin/customers/prepaid-co/checkout", json={"usd": "5"}),
            await http.get(f"{url}/admin/billing/reconcile", headers={"authorization": "Bearer wrong"}),
        ]
        chat = await _chat(http, url, key)  # in this hour, which is still open: not sent yet
        status = await _poll(
            lambda: http.get(f"{url}/admin/billing", headers=admin),
            200,
            until=lambda r: _synced_and_reconciled(r.json()["data"][0]),
        )
        period = {"customer": "prepaid-co", "from": f"{hours_ago(3):%Y-%m-%dT%H}:00Z", "to": "2999-01-01"}
        checked = await http.get(f"{url}/admin/billing/reconcile", params=period, headers=admin)

    assert {r.json()["error"]["code"] for r in unauthorized} == {"invalid_admin_token"}
    (row,) = status.json()["data"]
    assert row["customer"] == "prepaid-co" and row["stripe_customer_id"] in fake.customers
    assert fake.totals(row["stripe_customer_id"]) == {hours_ago(2).replace(minute=0): 4321}
    assert row["pending_usd"] == chat.headers["x-tollgate-cost-usd"]
    assert row["reconciliation_differences"] == 0  # the job's own check of the last day
    report = checked.json()
    assert checked.status_code == 200, report
    assert (report["tollgate_micros"], report["stripe_micros"], report["differences"]) == (4321, 4321, [])


def _synced_and_reconciled(row: dict[str, Any]) -> bool:
    return bool(row["last_synced_at"] and row["last_reconciled_at"] and row["pending_usd"] != "0.000000")


async def _poll(call: Any, status: int, until: Any = lambda response: True, seconds: float = 15) -> httpx.Response:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response: httpx.Response = await call()
        if response.status_code == status and until(response):
            return response
        assert asyncio.get_running_loop().time() < deadline, response.text
        await asyncio.sleep(0.2)
