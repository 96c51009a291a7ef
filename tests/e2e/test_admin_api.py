"""The admin API over HTTP, against a running gateway on SQLite (migrated by the gateway itself at
start-up) and on Postgres (migrated beforehand, as an operator does with ``tollgate migrate``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.db import migrate
from gateway.keys.material import hash_key
from tests.support.databases import BACKENDS, empty_database, open_sessions
from tests.support.gateway_process import running_gateway
from tests.support.usage_data import BY_CUSTOMER, BY_DAY, BY_MODEL, TOTAL_COST, Seeded, seed_usage

TOKEN = "admin-" + uuid.uuid4().hex
NO_ENV_TOKEN = {"TOLLGATE_ADMIN_TOKEN": ""}  # an empty variable overrides nothing


def config(database_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": n, "deployments": [{"backend": "sim", "model": "sim"}]} for n in ("chat-a", "chat-b")],
        "database_url": database_url,
        **extra,
    }


@dataclass
class Admin:
    url: str
    database_url: str
    seeded: Seeded

    def client(self, token: str | None = TOKEN) -> httpx.AsyncClient:
        headers = {} if token is None else {"authorization": f"Bearer {token}"}
        return httpx.AsyncClient(base_url=f"{self.url}/admin", headers=headers, timeout=10)


@pytest.fixture(scope="module", params=BACKENDS)
async def admin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Admin]:
    workdir: Path = tmp_path_factory.mktemp(f"admin-{request.param}")
    async with empty_database(request.param, workdir) as url:
        if request.param == "postgres":
            await migrate.upgrade(url)
        with running_gateway(config(url, admin_token=TOKEN), workdir, env=NO_ENV_TOKEN) as gateway:
            async with open_sessions(url) as sessions:
                seeded = await seed_usage(sessions)
            yield Admin(gateway, url, seeded)


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


def assert_error(response: httpx.Response, status: int, code: str | None, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["param"]) == (code, param), error
    assert response.headers["x-request-id"]
    return error


ROUTES = [
    ("GET", "/customers"),
    ("POST", "/customers"),
    ("GET", "/keys"),
    ("POST", "/keys/1/revoke"),
    ("DELETE", "/keys/1"),
    ("GET", "/usage"),
    ("GET", "/usage/events"),
    ("POST", "/prices"),
    ("PATCH", "/customers/acme"),
    ("POST", "/customers/acme/credits"),
    ("GET", "/customers/acme/credits"),
    ("GET", "/credits"),
]


async def test_every_admin_route_wants_the_admin_token(admin: Admin) -> None:
    async with admin.client(None) as anonymous, admin.client("wrong") as wrong, admin.client() as right:
        for method, path in ROUTES:
            for client in (anonymous, wrong):
                error = assert_error(await client.request(method, path), 401, "invalid_admin_token")
                assert error["type"] == "authentication_error"
            basic = await right.request(method, path, headers={"authorization": f"Basic {TOKEN}"})
            assert_error(basic, 401, "invalid_admin_token")
        assert (await right.get("/customers")).status_code == 200


async def test_without_an_admin_token_configured_the_admin_api_is_off(tmp_path: Path) -> None:
    database = tmp_path / "fresh" / "tollgate.db"
    with running_gateway(config(f"sqlite+aiosqlite:///{database}"), tmp_path, env=NO_ENV_TOKEN) as gateway:
        async with httpx.AsyncClient(base_url=gateway, headers={"authorization": "Bearer anything"}) as client:
            refused = await client.get("/admin/customers")
            healthy = await client.get("/healthz")

    error = assert_error(refused, 403, "admin_api_disabled")
    assert "disabled" in error["message"] and error["type"] == "permission_error"
    assert healthy.status_code == 200
    assert database.exists()  # the embedded database was created and migrated at start-up


async def test_customers_are_created_listed_updated_and_never_duplicated(admin: Admin) -> None:
    name = unique("acme")
    async with admin.client() as client:
        created = await client.post("/customers", json={"name": name, "markup_percent": "12.5"})
        duplicate = await client.post("/customers", json={"name": name})
        fetched = await client.get(f"/customers/{name}")
        updated = await client.patch(f"/customers/{name}", json={"markup_percent": -5})
        listed = await client.get("/customers")
        missing = await client.get(f"/customers/{unique('nobody')}")

    assert created.status_code == 201
    assert created.json()["name"] == name and created.json()["markup_percent"] == "12.5"
    error = assert_error(duplicate, 409, "already_exists", "name")
    assert f"customer named '{name}' already exists" in error["message"]
    assert fetched.json()["id"] == created.json()["id"]
    assert updated.json()["markup_percent"] == "-5"
    assert name in [c["name"] for c in listed.json()["data"]]
    assert_error(missing, 404, "not_found", "name")


async def test_a_key_is_shown_once_listed_without_secrets_and_revoked(admin: Admin) -> None:
    customer = unique("keys")
    async with admin.client() as client:
        await client.post("/customers", json={"name": customer})
        body = {"customer": customer, "name": "ci", "models": ["chat-a"], "rpm": 60, "budget_usd": "2.5"}
        created = await client.post("/keys", json=body)
        other = await client.post("/keys", json={"customer": customer, "expires_at": "2099-01-01"})
        listed = await client.get("/keys", params={"customer": customer})
        revoked = await client.post(f"/keys/{created.json()['prefix']}/revoke")
        deleted = await client.delete(f"/keys/{other.json()['id']}")
        after = await client.get("/keys", params={"customer": customer})
        unknown = await client.post("/keys/tg-nothing/revoke")

    assert created.status_code == 201, created.text
    key = created.json()
    secret = key["key"]
    assert secret.startswith(key["prefix"]) and len(secret) > 40
    assert (key["models"], key["rpm"], key["budget_usd"], key["budget_period"]) == (["chat-a"], 60, "2.500000", "month")
    assert other.json()["expires_at"] == "2099-01-01T00:00:00Z"
    assert [k["id"] for k in listed.json()["data"]] == [key["id"], other.json()["id"]]
    for page in (listed, after):
        assert "key" not in page.json()["data"][0]
        assert secret not in page.text and hash_key(secret) not in page.text
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert deleted.status_code == 200 and deleted.json()["revoked_at"] is not None
    assert all(k["revoked_at"] is not None for k in after.json()["data"])
    assert_error(unknown, 404, "not_found", "key")


BAD_INPUTS: list[tuple[str, str, str, Any, str | None, str]] = [
    # (name, method, path, JSON body or query, expected param, expected code)
    ("invalid json", "POST", "/customers", b'{"name": ', None, "invalid_json"),
    # These three were 500s with a traceback (RecursionError, UnicodeDecodeError out of the decoder).
    ("json nested too deep", "POST", "/customers", b'{"name": ' + b"[" * 5_000, None, "invalid_json"),
    (
        "json past the depth bound",
        "POST",
        "/keys",
        b'{"customer": "c", "x": ' + b"[" * 200 + b"]" * 200 + b"}",
        None,
        "invalid_json",
    ),
    ("json not utf-8", "POST", "/customers", b'{"name": "acme\xff"}', None, "invalid_json"),
    ("key filter out of range", "GET", "/usage", {"key": str(10**20)}, "key", "not_found"),
    ("missing name", "POST", "/customers", {}, "name", "missing_required_parameter"),
    ("empty name", "POST", "/customers", {"name": ""}, "name", "invalid_value"),
    ("markup not a number", "POST", "/customers", {"name": "x", "markup_percent": "lots"}, "markup_percent", None),
    ("markup out of range", "POST", "/customers", {"name": "x", "markup_percent": 5000}, "markup_percent", None),
    ("unknown field", "POST", "/customers", {"name": "x", "nmae": "y"}, "nmae", "unknown_parameter"),
    ("key without customer", "POST", "/keys", {}, "customer", "missing_required_parameter"),
    ("key for nobody", "POST", "/keys", {"customer": "nobody-at-all"}, "customer", "not_found"),
    ("rpm zero", "POST", "/keys", {"customer": "c", "rpm": 0}, "rpm", "invalid_value"),
    ("rpm a string", "POST", "/keys", {"customer": "c", "rpm": "many"}, "rpm", "invalid_type"),
    ("budget period", "POST", "/keys", {"customer": "c", "budget_period": "week"}, "budget_period", None),
    ("budget below a micro", "POST", "/keys", {"customer": "c", "budget_usd": "0.0000001"}, "budget_usd", None),
    ("expiry not a date", "POST", "/keys", {"customer": "c", "expires_at": "soon"}, "expires_at", None),
    ("expiry in the past", "POST", "/keys", {"customer": "c", "expires_at": "2001-01-01"}, "expires_at", None),
    ("unknown model", "POST", "/keys", {"customer": "c", "models": ["chat-a", "gpt-9"]}, "models[1]", None),
    ("group_by", "GET", "/usage", {"group_by": "week"}, "group_by", "invalid_value"),
    ("from", "GET", "/usage", {"from": "last tuesday"}, "from", "invalid_value"),
    ("from after to", "GET", "/usage", {"from": "2025-02-01", "to": "2025-01-01"}, "from", None),
    ("unknown query parameter", "GET", "/usage", {"group-by": "day"}, "group-by", "unknown_parameter"),
    ("customer filter", "GET", "/usage", {"customer": "nobody-at-all"}, "customer", "not_found"),
    ("limit too big", "GET", "/usage/events", {"limit": 5000}, "limit", "invalid_value"),
    ("limit not a number", "GET", "/usage/events", {"limit": "ten"}, "limit", "invalid_type"),
    ("cursor", "GET", "/usage/events", {"cursor": "not-a-cursor"}, "cursor", None),
    ("keys query", "GET", "/keys", {"owner": "x"}, "owner", "unknown_parameter"),
    (
        "negative price",
        "POST",
        "/prices",
        {"models": [{"model": "chat-a", "input_per_mtok": "-1"}]},
        "models[0].input_per_mtok",
        None,
    ),
    ("model priced twice", "POST", "/prices", {"models": [{"model": "chat-a"}, {"model": "chat-a"}]}, "models", None),
    ("cache hit percent", "POST", "/prices", {"models": [], "cache_hit_percent": 150}, "cache_hit_percent", None),
    ("customer rpm zero", "POST", "/customers", {"name": "x", "rpm": 0}, "rpm", "invalid_value"),
    ("customer budget period", "POST", "/customers", {"name": "x", "budget_period": "week"}, "budget_period", None),
    ("customer period alone", "POST", "/customers", {"name": "x", "budget_period": "day"}, "budget_period", None),
    (
        "warning percent too big",
        "POST",
        "/customers",
        {"name": "x", "budget_warning_percent": 101},
        "budget_warning_percent",
        "invalid_value",
    ),
    ("prepaid not a boolean", "POST", "/customers", {"name": "x", "prepaid": "yes"}, "prepaid", "invalid_type"),
    ("negative grace", "POST", "/customers", {"name": "x", "credit_grace_usd": "-1"}, "credit_grace_usd", None),
    ("grace below a micro", "POST", "/customers", {"name": "x", "credit_grace_usd": "1e-7"}, "credit_grace_usd", None),
    ("patch markup null", "PATCH", "/customers/acme", {"markup_percent": None}, "markup_percent", "invalid_type"),
    ("patch unknown field", "PATCH", "/customers/acme", {"rpn": 5}, "rpn", "unknown_parameter"),
    ("patch period alone", "PATCH", "/customers/acme", {"budget_period": "day"}, "budget_period", None),
    ("patch nobody", "PATCH", "/customers/nobody-at-all", {"rpm": 5}, "name", "not_found"),
    (
        "key warning zero",
        "POST",
        "/keys",
        {"customer": "c", "budget_warning_percent": 0},
        "budget_warning_percent",
        None,
    ),
    ("top-up zero", "POST", "/customers/acme/credits", {"usd": "0"}, "usd", None),
    ("top-up negative", "POST", "/customers/acme/credits", {"usd": -5}, "usd", None),
    ("top-up below a micro", "POST", "/customers/acme/credits", {"usd": "1.0000001"}, "usd", None),
    ("top-up not a number", "POST", "/customers/acme/credits", {"usd": "lots"}, "usd", None),
    ("top-up without usd", "POST", "/customers/acme/credits", {}, "usd", "missing_required_parameter"),
    ("top-up for nobody", "POST", "/customers/nobody-at-all/credits", {"usd": "1"}, "name", "not_found"),
    ("top-up reference", "POST", "/customers/acme/credits", {"usd": 1, "reference": "r" * 191}, "reference", None),
    ("credits limit", "GET", "/customers/acme/credits", {"limit": 0}, "limit", "invalid_value"),
]


@pytest.mark.parametrize(
    ("method", "path", "payload", "param", "code"), [case[1:] for case in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
async def test_bad_input_is_a_400_that_names_the_parameter(
    admin: Admin, method: str, path: str, payload: Any, param: str | None, code: str | None
) -> None:
    async with admin.client() as client:
        if method == "GET":
            response = await client.get(path, params=payload)
        elif isinstance(payload, bytes):
            response = await client.post(path, content=payload)
        else:
            response = await client.request(method, path, json=payload)

    status = 404 if code == "not_found" else 400
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    assert error["type"] == "invalid_request_error"


@pytest.mark.parametrize("ref", ["99999999999", str(10**20), "9" * 3000, "²", "١٢", "1²"])
async def test_a_key_id_out_of_range_or_not_ascii_names_no_key(admin: Admin, ref: str) -> None:
    """Such ids overflowed the database's integer (a 500), and ``١٢`` was read as key 12."""
    async with admin.client() as client:
        for method, path in (("POST", f"/keys/{ref}/revoke"), ("DELETE", f"/keys/{ref}")):
            assert_error(await client.request(method, path), 404, "not_found", "key")


@pytest.mark.parametrize(
    "part",
    [
        b'Content-Disposition: form-data; name="token"\r\n\r\n\xff\xfe',
        b'Content-Disposition: form-data; name="token"\r\nContent-Type: text/plain; charset=no-such\r\n\r\nx',
    ],
    ids=["not utf-8", "unknown charset"],
)
async def test_a_dashboard_form_that_does_not_decode_is_a_400(admin: Admin, part: bytes) -> None:
    body = b"--xx\r\n" + part + b"\r\n--xx--\r\n"
    async with httpx.AsyncClient(base_url=admin.url) as client:
        response = await client.post(
            "/dashboard/login", content=body, headers={"content-type": "multipart/form-data; boundary=xx"}
        )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/plain") and "\n" not in response.text.strip()


async def test_a_customer_has_limits_and_prepaid_terms_and_a_patch_changes_only_what_it_names(admin: Admin) -> None:
    name = unique("limited")
    body = {"name": name, "rpm": 100, "budget_usd": "50", "budget_warning_percent": 90, "prepaid": True}
    async with admin.client() as client:
        created = await client.post("/customers", json={**body, "credit_grace_usd": "2.5"})
        patched = await client.patch(f"/customers/{name}", json={"tpm": 5000, "budget_period": "day"})
        lifted = await client.patch(f"/customers/{name}", json={"rpm": None, "budget_usd": None, "prepaid": False})
        fetched = await client.get(f"/customers/{name}")
        key = await client.post("/keys", json={"customer": name, "budget_usd": "1", "budget_warning_percent": 60})

    assert created.status_code == 201, created.text
    customer = created.json()
    assert (customer["rpm"], customer["tpm"], customer["max_concurrency"]) == (100, None, None)
    assert (customer["budget_micros"], customer["budget_usd"], customer["budget_period"]) == (
        50_000_000,
        "50.000000",
        "month",
    )
    assert (customer["budget_warning_percent"], customer["prepaid"], customer["credit_grace_usd"]) == (
        90,
        True,
        "2.500000",
    )
    assert customer["credit_grace_micros"] == 2_500_000
    assert patched.status_code == 200, patched.text
    assert (patched.json()["rpm"], patched.json()["tpm"], patched.json()["budget_period"]) == (100, 5000, "day")
    assert patched.json()["updated_at"] >= customer["updated_at"]
    final = fetched.json()
    assert lifted.json() == final
    assert (final["rpm"], final["tpm"], final["budget_usd"], final["budget_period"]) == (None, 5000, None, None)
    assert (final["prepaid"], final["credit_grace_usd"], final["budget_warning_percent"]) == (False, "2.500000", 90)
    assert key.status_code == 201 and key.json()["budget_warning_percent"] == 60


async def test_credits_are_topped_up_once_per_reference_and_shown_with_the_balance(admin: Admin) -> None:
    name = unique("prepaid")
    async with admin.client() as client:
        await client.post("/customers", json={"name": name, "prepaid": True, "credit_grace_usd": "1"})
        first = await client.post(
            f"/customers/{name}/credits", json={"usd": "25.00", "note": "PO 7", "reference": "po-7"}
        )
        repeated = await client.post(f"/customers/{name}/credits", json={"usd": "25", "reference": "po-7"})
        clash = await client.post(f"/customers/{name}/credits", json={"usd": "30", "reference": "po-7"})
        second = await client.post(f"/customers/{name}/credits", json={"usd": 0.5})
        shown = await client.get(f"/customers/{name}/credits")
        one = await client.get(f"/customers/{name}/credits", params={"limit": 1})
        everyone = await client.get("/credits")

    assert first.status_code == 201, first.text
    added = first.json()
    assert (added["customer"], added["replayed"], added["balance_usd"]) == (name, False, "25.000000")
    entry = added["entry"]
    assert (entry["amount_micros"], entry["amount_usd"], entry["kind"]) == (25_000_000, "25.000000", "topup")
    assert (entry["reference"], entry["note"]) == ("topup:po-7", "PO 7")
    assert repeated.status_code == 200 and repeated.json()["replayed"] is True
    assert repeated.json()["entry"] == entry and repeated.json()["balance_micros"] == 25_000_000
    assert_error(clash, 409, "already_exists", "reference")
    assert second.status_code == 201 and second.json()["balance_usd"] == "25.500000"
    assert second.json()["entry"]["reference"].startswith("topup:")
    balance = shown.json()
    assert (balance["balance_micros"], balance["balance_usd"], balance["prepaid"]) == (25_500_000, "25.500000", True)
    assert (balance["credit_grace_micros"], balance["credit_grace_usd"]) == (1_000_000, "1.000000")
    assert [e["amount_usd"] for e in balance["data"]] == ["0.500000", "25.000000"]  # newest first
    assert [e["id"] for e in one.json()["data"]] == [second.json()["entry"]["id"]]
    mine = [row for row in everyone.json()["data"] if row["customer"] == name]
    assert [(row["balance_usd"], row["prepaid"]) for row in mine] == [("25.500000", True)]


async def _report(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/usage", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_usage_is_reported_per_model_customer_key_and_day_from_the_rollups(admin: Admin) -> None:
    async with admin.client() as client:
        by_model = await _report(client)
        by_customer = await _report(client, group_by="customer")
        by_key = await _report(client, group_by="key", customer="acme", model="model-a")
        by_day = await _report(client, group_by="day")
        by_hour = await _report(client, group_by="hour", **{"from": "2025-03-01T23:00Z", "to": "2025-03-02T01:00"})

    def totals(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
        return {row["group"]: (row["requests"], row["cost_micros"]) for row in report["data"]}

    assert totals(by_model) == BY_MODEL
    assert by_model["total_cost_micros"] == TOTAL_COST and by_model["total_cost_usd"] == "4.500291"
    assert [row["cost_usd"] for row in by_model["data"]] == ["4.500041", "0.000250"]
    assert totals(by_customer) == BY_CUSTOMER
    assert totals(by_key) == {admin.seeded.prefixes["acme-1"]: (5, 4_500_001)}
    assert by_key["data"][0]["group_id"] == admin.seeded.keys["acme-1"]
    assert totals(by_day) == BY_DAY
    assert totals(by_hour) == {"2025-03-01T23:00:00Z": (1, 250), "2025-03-02T00:00:00Z": (3, 3_000_001)}
    assert (by_hour["from"], by_hour["to"]) == ("2025-03-01T23:00:00Z", "2025-03-02T01:00:00Z")


async def test_usage_events_come_newest_first_a_page_at_a_time(admin: Admin) -> None:
    seen: list[str] = []
    params: dict[str, Any] = {"customer": "acme", "limit": 2}
    async with admin.client() as client:
        while True:
            page = (await client.get("/usage/events", params=params)).json()
            seen += [event["request_id"] for event in page["data"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        by_key = (await client.get("/usage/events", params={"key": admin.seeded.prefixes["acme-2"]})).json()

    assert seen == admin.seeded.event_ids
    assert by_key["data"] == [] and by_key["next_cursor"] is None


async def test_price_books_are_published_as_new_versions(admin: Admin) -> None:
    first = {"models": [{"model": "chat-a", "input_per_mtok": "0.15", "output_per_mtok": 0.6}], "note": "launch"}
    second = {
        "models": [
            {"model": "chat-a", "input_per_mtok": "0.2", "output_per_mtok": "0.8"},
            {"model": "chat-b", "gpu_hour_usd": "2.5", "tokens_per_gpu_hour": 9000000},
        ],
        "cache_hit_percent": "10",
    }
    # What serving chat-a costs the operator (the provider's list prices), as the config's cost block.
    second["models"][0]["cost"] = {"input_per_mtok": "0.1", "output_per_mtok": "0.4"}  # type: ignore[index]
    bad_cost = {"models": [{"model": "chat-a", "cost": {"input_per_mtok": "-1"}}]}
    async with admin.client() as client:
        before = await client.get("/prices")
        one = await client.post("/prices", json=first)
        two = await client.post("/prices", json=second)
        refused = await client.post("/prices", json=bad_cost)
        current = await client.get("/prices")

    assert_error(before, 404, "no_price_book")
    assert one.status_code == 201 and two.status_code == 201
    assert two.json()["version"] == one.json()["version"] + 1
    body = current.json()
    assert body["version"] == two.json()["version"] and body["cache_hit_percent"] == "10"
    chat_a, chat_b = body["models"]
    assert (chat_a["model"], chat_a["input_per_mtok"]) == ("chat-a", "0.2")
    assert (chat_b["gpu_hour_usd"], chat_b["tokens_per_gpu_hour"]) == ("2.5", 9000000)
    assert (chat_a["cost"]["input_per_mtok"], chat_a["cost"]["output_per_mtok"]) == ("0.1", "0.4")
    assert chat_b["cost"] is None
    assert_error(refused, 400, None, "models[0].cost.input_per_mtok")
