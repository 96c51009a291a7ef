"""Secrets are never logged or returned: a gateway at debug log level is sent customer keys (good and
bad), the admin token (good and bad) and requests that use provider keys, and neither its log nor its
answers nor its database and journal contain any of them (a new key's secret is shown once, on creation)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.fakes.openai_server import API_KEY, FakeOpenAI
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, sim_config

PROVIDER_KEY_REFUSED = "sk-provider-secret-refused-0123456789"
WRONG_CUSTOMER_KEY = "tg-wrong-customer-secret-0123456789abcdef"
WRONG_ADMIN_TOKEN = "wrong-admin-token-0123456789abcdef"


def test_no_secret_reaches_a_log_an_answer_or_the_database(tmp_path: Path, fake_openai: tuple[FakeOpenAI, str]) -> None:
    openai_url = fake_openai[1]
    config = sim_config(tmp_path, log_level="debug")
    upstream = {"type": "openai_compatible", "base_url": openai_url}
    config["backends"]["good"] = {**upstream, "api_key": API_KEY}
    config["backends"]["refused"] = {**upstream, "api_key": PROVIDER_KEY_REFUSED}
    config["models"] += [
        {"name": "gpt-good", "deployments": [{"backend": "good", "model": "gpt-upstream"}]},
        {"name": "gpt-refused", "deployments": [{"backend": "refused", "model": "gpt-upstream"}]},
    ]
    answers: list[httpx.Response] = []
    with running_gateway(config, tmp_path) as url:
        admin = httpx.Client(base_url=url, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30)
        admin.post("/admin/customers", json={"name": "acme"}).raise_for_status()
        created = admin.post("/admin/keys", json={"customer": "acme"})
        secret = created.json()["key"]
        customer = httpx.Client(base_url=url, headers={"authorization": f"Bearer {secret}"}, timeout=30)
        chat = {"messages": [{"role": "user", "content": "hello"}]}
        answers += [
            customer.post("/v1/chat/completions", json={"model": "gpt-good", **chat}),
            customer.post("/v1/chat/completions", json={"model": "gpt-good", "stream": True, **chat}),
            customer.post("/v1/chat/completions", json={"model": "gpt-refused", **chat}),
            customer.post("/v1/chat/completions", json={"model": "sim-chat", **chat}),
            customer.get("/v1/models"),
            customer.get("/admin/keys"),
            httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "sim-chat", **chat},
                headers={"authorization": f"Bearer {WRONG_CUSTOMER_KEY}"},
            ),
            httpx.get(f"{url}/admin/keys", headers={"authorization": f"Bearer {WRONG_ADMIN_TOKEN}"}),
            admin.get("/admin/keys"),
            admin.get("/admin/customers/acme"),
            admin.get("/admin/usage/events"),
            customer.get("/readyz"),
            customer.get("/metrics"),
            customer.get("/schema/openapi.json"),
        ]
        assert answers[0].status_code == 200 and answers[2].status_code == 502  # the provider refused our key
        assert answers[2].json()["error"]["code"] == "upstream_auth_failed"
    secrets = [secret, ADMIN_TOKEN, API_KEY, PROVIDER_KEY_REFUSED, WRONG_CUSTOMER_KEY, WRONG_ADMIN_TOKEN]
    log = (tmp_path / "gateway.log").read_text()
    assert "DEBUG" in log  # the log really is at debug level
    journal = b"".join(path.read_bytes() for path in (tmp_path / "journal").iterdir())
    stored = (tmp_path / "tollgate.db").read_bytes() + journal
    for value in secrets:
        assert value not in log
        assert value.encode() not in stored
        for answer in answers:
            assert value not in answer.text and value not in str(answer.headers), answer.request.url
