"""A config with ``anonymous_customer`` (the demo) serves requests that bring no Tollgate key as that
customer, the OpenAI SDK's placeholder keys included; a key-shaped bearer must still be a valid key."""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from gateway.keys.material import hash_key
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, SimGateway, add_customer, sim_config

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def anonymous_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    workdir = tmp_path_factory.mktemp("anonymous")
    with running_gateway(sim_config(workdir, anonymous_customer="demo"), workdir) as url:
        yield url, workdir


def _admin(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)


def _chat(url: str, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"authorization": authorization}
    return httpx.post(f"{url}/v1/chat/completions", headers=headers, json={"model": "sim-chat", "messages": USER})


def _requests_by_customer(url: str, expected: dict[str, int], timeout: float = 20) -> dict[str, int]:
    """The usage report's requests per customer, once the journal drain has stored ``expected``."""
    deadline = time.monotonic() + timeout
    while True:
        with _admin(url) as admin:
            rows = admin.get("/admin/usage", params={"group_by": "customer"}).json()["data"]
        seen = {row["group"]: row["requests"] for row in rows}
        if seen == expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


@pytest.mark.parametrize("placeholder", ["unused", "sk-anything", "EMPTY"])
def test_the_sdk_with_a_placeholder_key_is_served_as_the_anonymous_customer(
    anonymous_gateway: tuple[str, Path], placeholder: str
) -> None:
    url, _ = anonymous_gateway
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=placeholder, max_retries=0)
    answer = client.chat.completions.create(model="sim-chat", messages=USER)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    assert _chat(url, None).status_code == 200  # no header at all, as before


def test_anonymous_requests_are_billed_to_the_anonymous_customer_and_keys_to_their_own(
    tmp_path: Path,
) -> None:
    with running_gateway(sim_config(tmp_path, anonymous_customer="demo"), tmp_path) as url:
        with _admin(url) as admin:
            key = add_customer(admin, "acme")
        assert _chat(url, "Bearer unused").status_code == 200
        assert _chat(url, None).status_code == 200
        assert _chat(url, f"Bearer {key}").status_code == 200
        assert _requests_by_customer(url, {"demo": 2, "acme": 1}) == {"demo": 2, "acme": 1}


@pytest.mark.parametrize("bearer", ["tg-not-a-real-key", "tg-" + "A" * 43])
def test_an_unknown_tollgate_key_is_refused_even_with_an_anonymous_customer(
    anonymous_gateway: tuple[str, Path], bearer: str
) -> None:
    url, _ = anonymous_gateway
    response = _chat(url, f"Bearer {bearer}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_a_revoked_or_expired_key_is_refused_not_served_anonymously(anonymous_gateway: tuple[str, Path]) -> None:
    url, workdir = anonymous_gateway
    with _admin(url) as admin:
        revoked, expired = add_customer(admin, "gone-co"), add_customer(admin, "late-co")
        assert _chat(url, f"Bearer {revoked}").status_code == 200
        admin.post(f"/admin/keys/{revoked[:10]}/revoke").raise_for_status()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with sqlite3.connect(workdir / "tollgate.db") as connection:
        connection.execute(
            "UPDATE api_keys SET expires_at = ?, updated_at = ? WHERE key_hash = ?",
            (past.isoformat(), dt.datetime.now(dt.UTC).isoformat(), hash_key(expired)),
        )
    deadline = time.monotonic() + 10
    while _chat(url, f"Bearer {expired}").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # the gateway sees the database's change through its one-second poll

    assert _chat(url, f"Bearer {revoked}").json()["error"]["code"] == "invalid_api_key"
    assert _chat(url, f"Bearer {expired}").json()["error"]["code"] == "expired_api_key"


def test_without_an_anonymous_customer_a_placeholder_key_is_refused(sim_gateway: SimGateway) -> None:
    client = openai.OpenAI(base_url=f"{sim_gateway.url}/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="sim-chat", messages=USER)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_api_key"
    assert _chat(sim_gateway.url, None).json()["error"]["code"] == "missing_api_key"


def test_feedback_still_needs_a_key_where_requests_without_one_are_served(anonymous_gateway: tuple[str, Path]) -> None:
    """Feedback is on a customer's own answers: the anonymous customer, whom every keyless caller shares,
    cannot give it (the route takes the key's principal, not the anonymous one)."""
    url, _ = anonymous_gateway
    served = _chat(url, None)
    assert served.status_code == 200
    given = {"response_id": served.headers["x-request-id"], "score": 0.5}
    for authorization in (None, "Bearer unused"):
        headers = {} if authorization is None else {"authorization": authorization}
        refused = httpx.post(f"{url}/v1/feedback", headers=headers, json=given)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["type"] == "authentication_error"
