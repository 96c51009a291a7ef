"""The real OpenAI SDK through the load balancer, and what two gateways must agree on: a key's
rate limit and its revocation."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from tests.stack.stack import Stack, docker, eventually
from tests.stack.traffic import chat


def test_the_openai_sdk_chats_streams_and_embeds_through_the_load_balancer(stack: Stack) -> None:
    key = stack.new_key()
    sdk = openai.OpenAI(base_url=f"{stack.api}/v1", api_key=key.secret, max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="sim-chat", messages=[{"role": "user", "content": "Say hello to the stack."}]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content and raw.headers["x-tollgate-backend"] == "simulator"
    stream = sdk.chat.completions.create(
        model="sim-chat",
        messages=[{"role": "user", "content": "Stream something."}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    vectors = sdk.embeddings.create(model="sim-embed", input=["one", "two"])
    assert [len(item.embedding) for item in vectors.data] == [384, 384]
    eventually(lambda: len(stack.usage_ids(key.customer)) == 3, 30, "three usage events in Postgres")


def test_a_keys_rate_limit_is_exact_across_the_two_gateways(stack: Stack) -> None:
    key = stack.new_key(rpm=20)
    gateways = [stack.gateway("gateway-1"), stack.gateway("gateway-2")]
    targets = [(gateways[n % 2], n) for n in range(30)]  # 15 to each, concurrently
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda t: chat(t[0], key.secret, f"limit {t[1]}").status_code, targets))
    assert Counter(statuses) == {200: 20, 429: 10}
    by_gateway = Counter(status for (_url, n), status in zip(targets, statuses, strict=True) if n % 2 == 0)
    assert 0 < by_gateway[200] < 20  # both gateways admitted some: one count, not two


def test_a_revocation_is_refused_by_the_other_gateway_within_a_second(stack: Stack) -> None:
    key = stack.new_key()
    one, two = stack.gateway("gateway-1"), stack.gateway("gateway-2")
    assert chat(two, key.secret, "known here").status_code == 200  # gateway-2 has the key in memory
    stack.admin("POST", f"/keys/{key.id}/revoke", url=one)
    revoked = time.monotonic()
    refused = None
    while time.monotonic() - revoked < 5:
        response = chat(two, key.secret, "after revocation")
        if response.status_code == 401:
            refused = time.monotonic() - revoked
            break
        assert response.status_code == 200
        time.sleep(0.02)
    assert refused is not None and refused < 1.0, f"gateway-2 refused the revoked key after {refused} s"


def test_the_readmes_first_request_needs_no_key_and_is_billed_to_the_demo_customer(stack: Stack) -> None:
    """docker/README.md's first curl: the stack answers out of the box, as `anonymous_customer`."""
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "Hello"}]}
    response = httpx.post(f"{stack.api}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    eventually(lambda: request_id in stack.usage_ids("demo"), 30, "the anonymous request billed to demo")


def test_each_gateways_journal_volume_belongs_to_the_gateways_user(stack: Stack) -> None:
    """A named volume starts with the image's ownership of its mount point (it was root's: PermissionError)."""
    for service in ("gateway-1", "gateway-2"):
        owner = docker("exec", stack.container(service), "stat", "-c", "%u:%g", "/var/lib/tollgate/journal")
        assert owner == "10001:10001"
