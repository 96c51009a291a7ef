"""The admin API and the dashboard with Postgres cut (through a proxy the test cuts): a 503 with one
line and ``Retry-After`` on every page and route, never a 500 or a traceback, and all of it back once
the database is."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from tests.support.databases import migrated_database
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config
from tests.support.tcp_proxy import running_proxy

ADMIN_ROUTES = [
    ("GET", "/admin/customers"),
    ("GET", "/admin/keys"),
    ("GET", "/admin/usage"),
    ("GET", "/admin/credits"),
    ("POST", "/admin/keys/1/revoke"),
    ("POST", "/admin/customers"),
]
DASHBOARD_PAGES = ["/dashboard/usage", "/dashboard/keys", "/dashboard/customers", "/dashboard/billing"]


def _one_line_503(response: httpx.Response) -> str:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    text = response.text.strip()
    assert "\n" not in text and "Traceback" not in text
    return text


async def test_admin_and_dashboard_answer_503_while_the_database_is_down(tmp_path: Path) -> None:
    async with migrated_database("postgres", tmp_path) as direct_url:
        server = make_url(direct_url)
        with running_proxy((server.host or "127.0.0.1", server.port or 5432)) as proxy:
            via_proxy = server.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            with running_gateway(sim_config(tmp_path, database_url=via_proxy), tmp_path) as url:
                auth = {"authorization": f"Bearer {ADMIN_TOKEN}"}
                with httpx.Client(base_url=url, headers=auth, timeout=30) as setup:
                    add_customer(setup, "acme")
                admin = httpx.AsyncClient(base_url=url, headers=auth, timeout=30)
                async with admin, httpx.AsyncClient(base_url=url, timeout=30) as web:
                    assert (await web.post("/dashboard/login", data={"token": ADMIN_TOKEN})).status_code == 303

                    proxy.cut()
                    for method, path in ADMIN_ROUTES:
                        body = {"name": "newco"} if method == "POST" else None
                        answer = await admin.request(method, path, json=body)
                        _one_line_503(answer)
                        assert answer.json()["error"]["code"] == "store_unavailable"
                    for page in DASHBOARD_PAGES:
                        answer = await web.get(page)
                        assert answer.headers["content-type"].startswith("text/plain")
                        assert "unreachable" in _one_line_503(answer)

                    proxy.restore()
                    assert (await admin.get("/admin/customers")).status_code == 200
                    assert (await web.get("/dashboard/usage")).status_code == 200
