"""The dashboard in a real browser (headless Chromium): signing in and out, reading the data
behind the charts, and issuing and revoking a key that then works, and then doesn't, on ``/v1``."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.dashboard.pages import ms_cell
from gateway.db import migrate
from gateway.metering.latency_buckets import bucket_of, bucket_value
from gateway.metering.pricing import format_usd
from tests.support.browser import chart_data, chromium, sign_in, table_rows
from tests.support.dashboard_data import DashboardSeed, seed_dashboard
from tests.support.databases import empty_database, open_sessions
from tests.support.gateway_process import running_gateway

TOKEN = "admin-" + uuid.uuid4().hex


@dataclass
class Site:
    url: str
    seed: DashboardSeed


def dashboard_config(database_url: str) -> dict[str, object]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": m, "deployments": [{"backend": "sim", "model": "sim"}]} for m in ("model-a", "model-b")],
        "database_url": database_url,
        "admin_token": TOKEN,
    }


@pytest.fixture(scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    workdir: Path = tmp_path_factory.mktemp("dashboard")
    async with empty_database("postgres", workdir) as url:
        await migrate.upgrade(url)
        async with open_sessions(url) as sessions:
            seed = await seed_dashboard(sessions, dt.datetime.now(dt.UTC))
        with running_gateway(dashboard_config(url), workdir, env={"TOLLGATE_ADMIN_TOKEN": ""}) as gateway:
            yield Site(gateway, seed)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as found:
        yield found


@pytest.fixture
async def page(browser: Browser, site: Site) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 900})
    opened = await context.new_page()
    await sign_in(opened, site.url, TOKEN)
    yield opened
    await context.close()


async def test_pages_send_strangers_to_sign_in_and_a_wrong_token_is_refused(browser: Browser, site: Site) -> None:
    context = await browser.new_context()
    page = await context.new_page()

    await page.goto(f"{site.url}/dashboard/usage")
    await expect(page).to_have_url(f"{site.url}/dashboard/login")
    await page.fill("#token", "not-the-token")
    await page.click("button[type=submit]")
    await expect(page.locator("[role=alert]")).to_have_text("That is not the admin token.")

    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(f"{site.url}/dashboard/usage")
    await page.click("text=Sign out")
    await expect(page).to_have_url(f"{site.url}/dashboard/login")
    await page.goto(f"{site.url}/dashboard/keys")
    await expect(page).to_have_url(f"{site.url}/dashboard/login")
    await context.close()


async def test_the_cost_chart_shows_each_customers_cost_in_the_current_hour(page: Page, site: Site) -> None:
    await page.goto(f"{site.url}/dashboard/usage?range=24h&by=customer")

    data = await chart_data(page, "usage-cost")

    assert len(data) == 24
    current_hour = site.seed.now.strftime("%m-%d %H:00")
    assert data[current_hour] == {
        "acme": format_usd(site.seed.cost("acme")),
        "beta": format_usd(site.seed.cost("beta")),
    }
    earlier = [row for period, row in data.items() if period != current_hour]
    assert all(cell == "0.000000" for row in earlier for cell in row.values())


async def test_cache_latency_and_error_pages_read_the_rollups(page: Page, site: Site) -> None:
    today = site.seed.now.strftime("%Y-%m-%d")

    await page.goto(f"{site.url}/dashboard/cache")
    assert (await chart_data(page, "cache-hit-rate"))[today] == {"hit rate": "14.3"}  # 2 of 14
    assert (await chart_data(page, "cache-saved"))[today] == {"saved": "0.010000"}

    await page.goto(f"{site.url}/dashboard/latency")
    # model-a took 5, 5, 30, 300, 400, ..., 900 ms: the 5th of 10 is 400 ms, the 10th 900 ms.
    expected = [ms_cell(bucket_value(bucket_of(ms))) for ms in (400, 900, 40, 40)]
    assert (await table_rows(page, "latency-by-model"))["model-a"] == ["10", *expected]

    await page.goto(f"{site.url}/dashboard/errors")
    assert await table_rows(page, "errors-by-kind") == {
        "gateway_error 500": ["1", "7.1"],
        "upstream_error 503": ["1", "7.1"],
    }


async def test_a_key_created_in_the_browser_works_once_shown_and_stops_when_revoked(page: Page, site: Site) -> None:
    await page.goto(f"{site.url}/dashboard/keys")
    await page.select_option("select[name=customer]", "beta")
    await page.fill("input[name=name]", "from-the-browser")
    await page.click("text=Create key")
    await expect(page.locator("#new-secret")).to_be_visible()

    secret = (await page.locator("#new-secret").inner_text()).strip()
    auth = {"authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=site.url) as client:
        assert (await client.get("/v1/models", headers=auth)).status_code == 200

        await page.goto(f"{site.url}/dashboard/keys")
        assert secret not in await page.content()
        row = page.locator("table#keys tr", has_text="from-the-browser")
        await row.locator("text=Revoke").click()
        await expect(row.locator("td").nth(4)).to_have_text(re.compile("^revoked "))

        assert (await client.get("/v1/models", headers=auth)).status_code == 401


async def test_the_keys_page_creates_and_shows_a_key_with_limits_a_budget_and_an_expiry(page: Page, site: Site) -> None:
    await page.goto(f"{site.url}/dashboard/keys")
    await page.select_option("select[name=customer]", "beta")
    await page.fill("input[name=name]", "with-terms")
    await page.fill("input[name=rpm]", "60")
    await page.fill("input[name=tpm]", "100000")
    await page.fill("input[name=max_concurrency]", "4")
    await page.fill("input[name=budget_usd]", "12.5")
    await page.select_option("select[name=budget_period]", "day")
    await page.fill("input[name=expires_at]", "2099-01-31")
    await page.click("text=Create key")
    await expect(page.locator("#new-secret")).to_be_visible()

    cells = await page.locator("table#keys tr", has_text="with-terms").locator("td").all_text_contents()
    assert [cell.strip() for cell in cells[4:8]] == [
        "active",
        "60 rpm, 100000 tpm, 4 at once",
        "$12.50 a day",
        "2099-01-31 00:00",
    ]


async def test_forms_need_the_sessions_csrf_token_and_the_cookie_is_locked_down(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.url) as client:
        signed_in = await client.post("/dashboard/login", data={"token": TOKEN})
        cookie = signed_in.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/dashboard" in cookie

        forged = await client.post("/dashboard/keys", data={"customer": "beta", "name": "forged"})
        assert forged.status_code == 403
        keys = await client.get("/dashboard/keys")
        assert "forged" not in keys.text
        assert keys.headers["x-frame-options"] == "DENY"


async def test_without_an_admin_token_the_dashboard_is_off(tmp_path: Path) -> None:
    config = {**dashboard_config(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}"), "admin_token": None}
    with running_gateway(config, tmp_path, env={"TOLLGATE_ADMIN_TOKEN": ""}) as gateway:
        async with httpx.AsyncClient(base_url=gateway) as client:
            form = await client.get("/dashboard/login")
            signed_in = await client.post("/dashboard/login", data={"token": ""})
            page = await client.get("/dashboard/usage")

    assert form.status_code == 403 and "disabled" in form.text
    assert signed_in.status_code == 401 and "set-cookie" not in signed_in.headers
    assert page.status_code == 403
