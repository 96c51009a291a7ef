"""Which requests the cache treats as the same, and who may see an entry."""

from __future__ import annotations

from typing import Any

from backends.base import Operation
from gateway.cache.keys import SHARED, keys_for, tenant_of

ASK = [{"role": "user", "content": "What is the capital of France?"}]


def key(raw: dict[str, Any], tenant: str = "c1", model: str = "m") -> str:
    return keys_for(tenant, model, Operation.CHAT, raw).exact


def test_order_numbers_defaults_and_delivery_fields_do_not_change_the_key() -> None:
    plain = {"model": "m", "messages": ASK, "temperature": 0}
    spelled_out = {
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "alice",
        "temperature": 0.0,
        "top_p": 1.0,
        "n": 1,
        "presence_penalty": 0,
        "seed": None,
        "messages": [{"content": ASK[0]["content"], "role": "user", "name": None}],
        "model": "m",
    }
    assert key(plain) == key(spelled_out)


def test_every_output_parameter_changes_the_key() -> None:
    base = {"model": "m", "messages": ASK, "temperature": 0}
    variants = [
        {"temperature": 0.5},
        {"max_tokens": 5},
        {"seed": 7},
        {"stop": ["."]},
        {"top_p": 0.9},
        {"n": 2},
        {"response_format": {"type": "json_object"}},
        {"messages": [{"role": "system", "content": "Be brief."}, *ASK]},
    ]
    keys = {key(base)} | {key({**base, **variant}) for variant in variants}
    assert len(keys) == len(variants) + 1


def test_tenant_and_model_are_part_of_the_key() -> None:
    raw = {"model": "m", "messages": ASK, "temperature": 0}
    assert len({key(raw, "c1"), key(raw, "c2"), key(raw, "c1", "other"), key(raw, SHARED)}) == 4
    assert tenant_of(42, shared=False) == "c42" and tenant_of(42, shared=True) == SHARED


def test_semantic_scope_ignores_the_last_user_turn_but_not_what_came_before() -> None:
    def scope(messages: list[dict[str, Any]]) -> str | None:
        return keys_for("c1", "m", Operation.CHAT, {"messages": messages, "temperature": 0}).semantic_scope

    system = {"role": "system", "content": "You are terse."}
    one = scope([system, {"role": "user", "content": "capital of France?"}])
    assert one == scope([system, {"role": "user", "content": "Which city is France's capital?"}])
    assert one != scope([{"role": "system", "content": "You are verbose."}, {"role": "user", "content": "x"}])
    assert scope([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]) is None


def test_text_parts_are_the_last_user_turn() -> None:
    parts = [{"type": "text", "text": "What is"}, {"type": "text", "text": "the capital of France?"}]
    keys = keys_for("c1", "m", Operation.CHAT, {"messages": [{"role": "user", "content": parts}]})
    assert keys.last_user_turn == "What is\nthe capital of France?"
    image = [{"type": "image_url", "image_url": {"url": "data:,"}}]
    with_image = keys_for("c1", "m", Operation.CHAT, {"messages": [{"role": "user", "content": image}]})
    assert with_image.semantic_scope is None


def test_keys_are_glob_safe_for_purges() -> None:
    exact = key({"messages": ASK}, model="gpt-4o*[x]:y")
    tenant, tag, digest = exact.split(":")
    assert tenant == "c1" and tag.isalnum() and digest.isalnum()
