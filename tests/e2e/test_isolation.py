"""No customer key reaches the admin API, and no customer can read another's usage, keys or cache
entries. Both tables grow by themselves or by a row: every admin route the app declares is tried, and
each customer-facing way to another customer's data is one row of ``CROSS_CUSTOMER``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from litestar.routes import HTTPRoute

from gateway.app import create_app
from gateway.settings import load_settings
from tests.support.sim_gateway import SimGateway

# Route prefixes that only the admin token may use; add the dashboard's once it has its own.
PRIVILEGED_PREFIXES = ("/admin",)


def privileged_routes() -> list[tuple[str, str]]:
    app = create_app(load_settings(None, {}))
    found = set()
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(PRIVILEGED_PREFIXES):
            for method in route.route_handler_map:
                if method not in ("OPTIONS", "HEAD"):
                    found.add((str(method), re.sub(r"\{[^}]+\}", "bob", route.path)))  # another customer's name
    return sorted(found)


ROUTES = privileged_routes()


def test_every_admin_route_is_tried() -> None:
    assert ("GET", "/admin/usage") in ROUTES and ("POST", "/admin/keys") in ROUTES


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_a_customer_key_cannot_use_the_admin_api(method: str, path: str, sim_gateway: SimGateway) -> None:
    before = sim_gateway.state_digest()
    with sim_gateway.customer("alice") as alice:
        for auth in ({}, {"authorization": alice.headers["authorization"]}):
            answer = httpx.request(method, f"{sim_gateway.url}{path}", json={}, headers=auth, timeout=30)
            assert answer.status_code == 401, answer.text
            assert answer.json()["error"]["code"] == "invalid_admin_token"
    assert sim_gateway.state_digest() == before


@dataclass(frozen=True)
class CrossCustomer:
    """``probe`` runs as Alice after Bob has used the gateway, and says whether she saw his data."""

    name: str
    probe: Callable[[httpx.Client, httpx.Client], bool]


def _cached_answer_reused(alice: httpx.Client, bob: httpx.Client) -> bool:
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "bob's private question"}], "temperature": 0}
    assert bob.post("/v1/chat/completions", json=body).status_code == 200
    again = bob.post("/v1/chat/completions", json=body)
    assert again.headers["x-tollgate-cache"] == "hit"  # the cache is on, and holds Bob's answer
    answer = alice.post("/v1/chat/completions", json=body)
    return answer.headers.get("x-tollgate-cache", "miss") != "miss"


def _cached_completion_reused(alice: httpx.Client, bob: httpx.Client) -> bool:
    body = {"model": "sim-completion", "prompt": "bob's private document says", "temperature": 0}
    assert bob.post("/v1/completions", json=body).status_code == 200
    again = bob.post("/v1/completions", json=body)
    assert again.headers["x-tollgate-cache"] == "hit"  # the cache is on, and holds Bob's answer
    answer = alice.post("/v1/completions", json=body)
    assert answer.status_code == 200
    return answer.headers.get("x-tollgate-cache", "miss") != "miss"


def _bob_key_listed(alice: httpx.Client, bob: httpx.Client) -> bool:
    bob_secret = bob.headers["authorization"].removeprefix("Bearer ")
    answers = [alice.get(path) for path in ("/v1/models", "/admin/keys", "/admin/usage?customer=bob")]
    return any(bob_secret[:12] in a.text or '"customer":"bob"' in a.text for a in answers)


CROSS_CUSTOMER = [
    CrossCustomer("chat response cache", _cached_answer_reused),
    CrossCustomer("completions response cache", _cached_completion_reused),
    CrossCustomer("keys and usage listings", _bob_key_listed),
]


@pytest.mark.parametrize("case", CROSS_CUSTOMER, ids=[c.name for c in CROSS_CUSTOMER])
def test_no_customer_reads_another_customers_data(case: CrossCustomer, sim_gateway: SimGateway) -> None:
    with sim_gateway.customer("alice") as alice, sim_gateway.customer("bob") as bob:
        assert not case.probe(alice, bob)
