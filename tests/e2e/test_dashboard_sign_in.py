"""Signing in to the dashboard over HTTP, as an attacker would: wrong admin tokens are throttled per
address (429 with Retry-After), and signing out kills the session for good, on every replica that
shares the Redis, not only in the browser that dropped its cookie."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config


def sign_in(url: str, token: str) -> httpx.Response:
    return httpx.post(f"{url}/dashboard/login", data={"token": token}, follow_redirects=False, timeout=30)


@contextmanager
def two_replicas(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two gateways on one database and one Redis namespace of their own, as replicas run."""
    shared = {"redis_url": "redis://127.0.0.1:6379/0", "redis_namespace": f"dashboard-{uuid.uuid4().hex[:8]}"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    database = f"sqlite+aiosqlite:///{tmp_path / 'a' / 'tollgate.db'}"
    with (
        running_gateway(sim_config(tmp_path / "a", **shared), tmp_path / "a") as one,
        running_gateway(sim_config(tmp_path / "b", **shared, database_url=database), tmp_path / "b") as other,
    ):
        yield one, other


def test_wrong_tokens_are_throttled_per_address(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path), tmp_path) as url:
        assert [sign_in(url, f"guess-{n}").status_code for n in range(5)] == [401] * 5
        refused = sign_in(url, "guess-5")
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "try again in" in refused.text
        # While locked out even the right token is refused: a guess cannot be confirmed.
        assert sign_in(url, ADMIN_TOKEN).status_code == 429


def test_replicas_sharing_redis_share_one_count_of_wrong_tokens(tmp_path: Path) -> None:
    """Each replica counted its own five, so two replicas gave an address ten tries a minute."""
    with two_replicas(tmp_path) as (one, other):
        assert [sign_in(one, f"guess-{n}").status_code for n in range(3)] == [401] * 3
        assert [sign_in(other, f"guess-{n}").status_code for n in range(3, 5)] == [401] * 2
        for replica in (one, other):
            refused = sign_in(replica, "guess-5")
            assert refused.status_code == 429
            assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_a_cookie_is_dead_after_sign_out_on_every_replica(tmp_path: Path) -> None:
    with two_replicas(tmp_path) as (one, other):
        signed_in = sign_in(one, ADMIN_TOKEN)
        assert signed_in.status_code == 303
        cookies = dict(signed_in.cookies)
        page = httpx.get(f"{one}/dashboard/usage", cookies=cookies, timeout=30)
        assert page.status_code == 200
        assert httpx.get(f"{other}/dashboard/usage", cookies=cookies, timeout=30).status_code == 200
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match is not None

        out = httpx.post(f"{one}/dashboard/logout", data={"csrf_token": match[1]}, cookies=cookies, timeout=30)
        assert out.status_code == 303

        for replica in (one, other):  # the old cookie, replayed by whoever copied it
            again = httpx.get(f"{replica}/dashboard/usage", cookies=cookies, timeout=30)
            assert again.status_code == 303 and again.headers["location"] == "/dashboard/login"
        assert sign_in(one, ADMIN_TOKEN).status_code == 303  # a new sign-in works


def test_a_key_id_in_other_digits_revokes_nothing(tmp_path: Path) -> None:
    """``١`` is a digit to Python's int() but no key's id: the dashboard's revoke answers 404 and key 1
    keeps working (the route parsed the id as an int, so ``١`` revoked key 1)."""
    with running_gateway(sim_config(tmp_path), tmp_path) as url:
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        secret = add_customer(admin, "acme")
        key_id = admin.get("/admin/keys").json()["data"][0]["id"]
        signed_in = sign_in(url, ADMIN_TOKEN)
        cookies = dict(signed_in.cookies)
        page = httpx.get(f"{url}/dashboard/keys", cookies=cookies, timeout=30)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert match is not None and key_id == 1

        revoke = httpx.post(
            f"{url}/dashboard/keys/%D9%A1/revoke", data={"csrf_token": match[1]}, cookies=cookies, timeout=30
        )
        assert revoke.status_code == 404
        chat = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{url}/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {secret}"})
        assert answer.status_code == 200
