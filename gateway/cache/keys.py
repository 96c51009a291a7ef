"""Cache keys: who may see an entry (the tenant scope) and what makes two requests the same.

A request's exact key covers the tenant, the public model, the endpoint and every body field that
can change the answer, canonicalised: key order, ``None`` values, numbers written as ``0`` or
``0.0`` and parameters left at OpenAI's defaults do not make two requests different. Fields that
only shape the delivery (``stream``, ``stream_options``) or label the caller (``user``,
``metadata``, ``store``) are left out. The semantic scope is the same digest without the last user
turn, which the semantic matcher compares by meaning instead.

Keys are ``<tenant>:<model tag>:<digest>``, hex and digits only, so that Redis can find every entry
of one customer or one model with a glob (``c42:*``, ``*:<model tag>:*``) for a purge.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from backends.base import JSON, Operation

SHARED = "shared"

# Body fields that never change the answer.
_DELIVERY_ONLY = frozenset({"model", "stream", "stream_options", "user", "metadata", "store"})

# OpenAI's defaults: a request that spells one out asks for the same answer as one that omits it.
_DEFAULTS: dict[str, Any] = {
    "temperature": 1,
    "top_p": 1,
    "n": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
    "logprobs": False,
    "echo": False,
    "best_of": 1,
    "parallel_tool_calls": True,
    "response_format": {"type": "text"},
    "stop": [],
    "logit_bias": {},
    "tools": [],
    "encoding_format": "float",
}

_encode = msgspec.json.Encoder(order="sorted").encode


@dataclass(frozen=True, slots=True)
class CacheKeys:
    tenant: str
    exact: str  # the entry's id, also its key in the store
    semantic_scope: str | None  # None: the request has no last user turn to compare by meaning
    last_user_turn: str | None


def tenant_of(customer_id: int, shared: bool) -> str:
    """The scope an entry is visible in: one customer, or (by explicit config) all of them."""
    return SHARED if shared else f"c{customer_id}"


def model_tag(model: str) -> str:
    return _digest(model.encode(), 8)


def keys_for(tenant: str, model: str, op: Operation, raw: JSON) -> CacheKeys:
    params = canonical_params(raw)
    prefix = f"{tenant}:{model_tag(model)}:"
    exact = prefix + _digest(_encode([op.value, model, params]), 16)
    last = _last_user_turn(params) if op is Operation.CHAT else None
    if last is None:
        return CacheKeys(tenant, exact, None, None)
    earlier = {**params, "messages": params["messages"][:-1]}
    scope = prefix + _digest(_encode(["semantic", op.value, model, earlier]), 16)
    return CacheKeys(tenant, exact, scope, last)


def canonical_params(raw: JSON) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _DELIVERY_ONLY or value is None:
            continue
        value = _canonical(value)
        if name in _DEFAULTS and value == _DEFAULTS[name]:
            continue
        params[name] = value
    if isinstance(params.get("messages"), list):
        params["messages"] = [_message(m) for m in params["messages"]]
    return params


def _message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    return {k: v for k, v in message.items() if v is not None}


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def _last_user_turn(params: dict[str, Any]) -> str | None:
    """The text of the conversation's last message when it is the user's (text parts joined)."""
    messages = params.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return None
    last = messages[-1]
    if last.get("role") != "user" or last.get("name") is not None:
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content or None
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        return "\n".join(str(p.get("text") or "") for p in content) or None
    return None


def _digest(data: bytes, size: int) -> str:
    return hashlib.blake2b(data, digest_size=size).hexdigest()
