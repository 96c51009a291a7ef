"""Headless Chromium (Debian's ``/usr/bin/chromium``, installed by ``make chromium``) driven by
Playwright, which never downloads a browser of its own here, and the dashboard chores tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as driver:
        # Root in a container has no user namespace for Chromium's sandbox.
        browser = await driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in(page: Page, gateway: str, token: str) -> None:
    await page.goto(f"{gateway}/dashboard/login")
    await page.fill("#token", token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{gateway}/dashboard/usage")


async def chart_data(page: Page, chart: str) -> dict[str, dict[str, str]]:
    """The table behind a chart: ``{period: {series: cell}}``."""
    table = page.locator(f'table.chart-data[data-chart="{chart}"]')
    headers = await table.locator("thead th").all_text_contents()
    rows: dict[str, dict[str, str]] = {}
    for row in await table.locator("tbody tr").all():
        cells = await row.locator("td").all_text_contents()
        rows[cells[0]] = dict(zip(headers[1:], cells[1:], strict=True))
    return rows


async def table_rows(page: Page, table_id: str) -> dict[str, list[str]]:
    """A table's rows by their first cell: ``{first: [every cell after it]}``."""
    found: dict[str, list[str]] = {}
    for row in await page.locator(f"table#{table_id} tbody tr").all():
        cells = await row.locator("td").all_text_contents()
        found[cells[0].strip()] = [cell.strip() for cell in cells[1:]]
    return found
