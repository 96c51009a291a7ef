"""read_body: a body in one message or many, the limit held whether declared or not, a client gone."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.errors import PayloadTooLarge
from gateway.edge.asgi import ClientGone, header, read_body


def _receive(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    return receive


def _scope(length: int | None = None) -> dict[str, Any]:
    return {"headers": [] if length is None else [(b"content-length", str(length).encode())]}


async def test_a_body_in_one_message() -> None:
    body = await read_body(_scope(5), _receive({"type": "http.request", "body": b"hello"}), 10)
    assert body == b"hello" and type(body) is bytes


async def test_a_body_in_several_messages_is_joined() -> None:
    parts: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"he", "more_body": True},
        {"type": "http.request", "body": b"llo"},
    ]
    assert await read_body(_scope(), _receive(*parts), 10) == b"hello"


async def test_a_body_over_the_limit_is_refused_declared_or_not() -> None:
    with pytest.raises(PayloadTooLarge):
        await read_body(_scope(11), _receive(), 10)
    parts: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"hello", "more_body": True},
        {"type": "http.request", "body": b"world!"},
    ]
    with pytest.raises(PayloadTooLarge):
        await read_body(_scope(), _receive(*parts), 10)


async def test_a_client_gone_before_its_body_came() -> None:
    with pytest.raises(ClientGone):
        await read_body(_scope(), _receive({"type": "http.disconnect"}), 10)


def test_a_header_is_the_first_of_its_name_and_absent_is_none() -> None:
    scope = {
        "headers": [
            (b"authorization", b"Bearer first"),
            (b"x-session-id", bytearray(b"s\xe9ance")),  # latin-1, as HTTP header bytes are read
            (b"authorization", b"Bearer second"),
        ]
    }
    assert header(scope, b"authorization") == "Bearer first"
    assert header(scope, b"x-session-id") == "s\xe9ance"
    assert header(scope, b"cache-control") is None
    assert header(scope, b"authorization") == "Bearer first"  # asked again: the same answer
