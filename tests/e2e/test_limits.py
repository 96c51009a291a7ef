"""Limits against oversized and slow clients: body, headers, messages, and time to send a request.
The body limit is tried on every operation of the schema that takes a body (uploads included, once
their endpoints are in the schema). Also: a URL in a request is passed on, never fetched."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from aiohttp import web

from tests.e2e.test_fuzz import OPERATIONS, credentials
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.threaded import serve_in_thread
from tests.support.sim_gateway import SimGateway

MAX_BODY = 65536  # the sim gateway's max_request_bytes
MAX_UPLOAD = 131072  # and its max_upload_bytes, which multipart endpoints (uploads) read up to
WITH_BODY = [(op.method.upper(), op.path) for op in OPERATIONS if "requestBody" in op.definition.raw]
UPLOADS = {
    op.path for op in OPERATIONS if "multipart/form-data" in op.definition.raw.get("requestBody", {}).get("content", {})
}


@pytest.mark.parametrize(("method", "path"), WITH_BODY, ids=[f"{m} {p}" for m, p in WITH_BODY])
def test_a_body_over_the_limit_is_refused_with_413(method: str, path: str, sim_gateway: SimGateway) -> None:
    before = sim_gateway.state_digest()
    url = sim_gateway.url + path.replace("{name}", "alice").replace("{ref}", "1")
    body = b'{"pad": "' + b"x" * MAX_BODY + b'"}'
    headers = {**credentials(path, sim_gateway), "content-type": "application/json"}
    if path in UPLOADS:
        part = b'--b\r\ncontent-disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        body = part + b"x" * MAX_UPLOAD + b"\r\n--b--\r\n"
        headers["content-type"] = "multipart/form-data; boundary=b"
    answer = httpx.request(method, url, content=body, headers=headers, timeout=30)
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["code"] == "request_too_large"
    assert sim_gateway.state_digest() == before


def test_too_many_messages_are_refused_naming_the_setting(sim_gateway: SimGateway) -> None:
    messages = [{"role": "user", "content": "hi"}] * 65
    with sim_gateway.customer("alice") as alice:
        answer = alice.post("/v1/chat/completions", json={"model": "sim-chat", "messages": messages})
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["param"] == "messages" and error["code"] == "too_many_messages"
        assert "max_messages" in error["message"]
        ok = alice.post("/v1/chat/completions", json={"model": "sim-chat", "messages": messages[:64]})
        assert ok.status_code == 200


def test_embeddings_dimensions_are_bounded(sim_gateway: SimGateway) -> None:
    """Unbounded, a request for a billion dimensions had the gateway killed for memory (found by fuzzing)."""
    with sim_gateway.customer("alice") as alice:
        body = {"model": "sim-embed", "input": "hi"}
        refused = alice.post("/v1/embeddings", json={**body, "dimensions": 8193})
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "dimensions"
        widest = alice.post("/v1/embeddings", json={**body, "dimensions": 8192})
        assert widest.status_code == 200 and len(widest.json()["data"][0]["embedding"]) == 8192


def raw_exchange(url: str, data: bytes, wait: float = 15) -> tuple[bytes, float]:
    """Send ``data`` and read until the server closes; returns what came back and how long it took."""
    host, port = url.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=wait) as connection:
        connection.sendall(data)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer, time.monotonic() - started


def test_headers_over_the_limit_are_refused_with_431(sim_gateway: SimGateway) -> None:
    request = b"GET /v1/models HTTP/1.1\r\nhost: x\r\nx-padding: " + b"a" * 9000 + b"\r\n\r\n"
    answer, _ = raw_exchange(sim_gateway.url, request)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"code": "request_headers_too_large"' in answer


@pytest.mark.parametrize(
    "partial",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n",  # the headers never end
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nAUTH\r\ncontent-length: 100\r\n\r\n{",  # nor the body
        b"",  # nothing at all
    ],
    ids=["slow headers", "slow body", "silent connection"],
)
def test_a_slow_client_is_timed_out(partial: bytes, sim_gateway: SimGateway) -> None:
    authorization = f"authorization: Bearer {sim_gateway.keys['alice']}".encode()
    answer, took = raw_exchange(sim_gateway.url, partial.replace(b"AUTH", authorization))
    assert took < 12  # the sim gateway allows 3 seconds; a loaded machine may add some
    if partial:
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b'"code": "request_timeout"' in answer


def test_image_urls_are_passed_on_never_fetched(
    gateway_url: str, api_key: str, fake_openai: tuple[FakeOpenAI, str]
) -> None:
    fetched: list[str] = []

    async def record(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=b"\x89PNG")

    trap = web.Application()
    trap.add_routes([web.get("/{tail:.*}", record)])
    with serve_in_thread(trap) as trap_url:
        image = {"type": "image_url", "image_url": {"url": f"{trap_url}/secret.png"}}
        body = {"model": "gpt-fake", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, image]}]}
        answer = httpx.post(
            f"{gateway_url}/v1/chat/completions", json=body, headers={"authorization": f"Bearer {api_key}"}, timeout=30
        )
        assert answer.status_code == 200
        assert fake_openai[0].state.requests[-1]["messages"][0]["content"][1] == image  # passed on as sent
        assert fetched == []  # and the gateway never fetched it
