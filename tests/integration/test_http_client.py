"""The upstream HTTP/1.1 client (backends/http_client.py, its exchanges backends/http_exchange.py)
against raw asyncio servers written here, so that each test controls the bytes on the wire: what a
request looks like, how an answer is framed, when it stalls, closes or lies, and how many
connections and requests the server saw."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import pytest

from backends.http_client import HTTPClient
from backends.http_exchange import BadResponse, ConnectFailed, Disconnected, Response, StatusRefused, Timeout
from tests.support.ports import HOST, free_port

QUICK = Timeout(connect=1.0, read=1.0, total=2.0)  # a hang fails the test within its budget


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]  # names lower-cased, in the order sent, repeats kept
    body: bytes

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on a connection (its body framed by content-length), None at a clean EOF."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    assert version == "HTTP/1.1"
    headers = [
        (name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines if line)
    ]
    request = Request(method, target, headers, b"")
    lengths = request.header("content-length")
    if lengths:
        request.body = await reader.readexactly(int(lengths[0]))
    return request


def answer(body: bytes = b"ok", status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} X\r\n", f"content-length: {len(body)}\r\n"]
    lines += [f"{name}: {value}\r\n" for name, value in headers]
    return "".join(lines).encode() + b"\r\n" + body


Handler = Callable[["RawServer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """An asyncio server on 127.0.0.1 (kernel-picked port) running ``handle`` for each connection; it
    counts the connections it accepted and keeps the requests a handler records."""

    handle: Handler
    tls: ssl.SSLContext | None = None
    connections: int = 0
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._on_client, HOST, 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"{'https' if self.tls else 'http'}://{HOST}:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handle(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:  # __aexit__ ends the handlers still waiting
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


def answering(respond: Callable[[Request], bytes]) -> Handler:
    """A keep-alive server: records each request and writes ``respond(request)``; it closes the
    connection after an answer that says ``connection: close``."""

    async def handle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            server.requests.append(request)
            reply = respond(request)
            writer.write(reply)
            await writer.drain()
            if b"\r\nconnection: close\r\n" in reply.partition(b"\r\n\r\n")[0] + b"\r\n":
                return

    return handle


@pytest.fixture
async def client() -> AsyncIterator[HTTPClient]:
    http = HTTPClient()
    yield http
    await http.close()


async def fetch(client: HTTPClient, url: str, timeout: Timeout = QUICK) -> tuple[Response, bytes]:
    async with await client.request("GET", url, timeout=timeout) as response:
        return response, await response.read()


# 1. The request on the wire


async def test_post_and_get_reach_the_server_intact(client: HTTPClient) -> None:
    async with RawServer(answering(lambda _: answer(b"ok"))) as server:
        port = server.url.rpartition(":")[2]
        body = b'{"prompt": "caf\xc3\xa9"}\x00\xff\r\n\r\nGET / HTTP/1.1\r\n'  # bytes that look like a request
        caller = {"authorization": "Bearer sk-1", "x-trace": "t-42", "content-type": "application/json"}

        get, get_body = await fetch(client, f"{server.url}/v1/models")
        async with await client.request(
            "POST", f"{server.url}/v1/chat/completions?stream=1&x=%20y", headers=caller, body=body, timeout=QUICK
        ) as post:
            assert await post.read() == b"ok"

    assert (get.status, get_body) == (200, b"ok")
    assert server.connections == 1
    first, second = server.requests
    assert (first.method, first.target, first.body) == ("GET", "/v1/models", b"")
    assert first.header("host") == [f"{HOST}:{port}"]
    assert first.header("content-length") == [] and first.header("transfer-encoding") == []
    # Had the GET carried a body, the POST would not parse as the next request on the connection.
    assert (second.method, second.target) == ("POST", "/v1/chat/completions?stream=1&x=%20y")
    assert second.header("host") == [f"{HOST}:{port}"]
    for name, value in caller.items():
        assert second.header(name) == [value]
    assert second.header("content-length") == [str(len(body))]
    assert second.body == body


# 2-3. Keep-alive


async def test_sequential_requests_share_one_connection_until_the_server_says_close(client: HTTPClient) -> None:
    def respond(request: Request) -> bytes:
        if request.target == "/close":
            return answer(b"bye", headers=[("connection", "close")])
        return answer(request.target.encode())

    async with RawServer(answering(respond)) as server:
        for n in range(3):
            _, body = await fetch(client, f"{server.url}/{n}")
            assert body == f"/{n}".encode()
        assert server.connections == 1

        _, body = await fetch(client, f"{server.url}/close")
        assert body == b"bye"
        _, body = await fetch(client, f"{server.url}/after")
        assert body == b"/after"
        assert server.connections == 2
        assert [r.target for r in server.requests] == ["/0", "/1", "/2", "/close", "/after"]


async def test_an_idle_connection_the_server_closed_is_not_reused(client: HTTPClient) -> None:
    closed = asyncio.Event()

    async def answer_once_then_close(server: RawServer, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        assert request is not None
        server.requests.append(request)
        w.write(answer(b"hello"))  # says nothing of closing: the client pools the connection
        await w.drain()
        if server.connections == 1:  # as an upstream's keep-alive timeout would
            w.close()
            await w.wait_closed()
            closed.set()
            return
        await answering(lambda _: answer(b"again"))(server, reader, w)

    async with RawServer(answer_once_then_close) as server:
        _, body = await fetch(client, f"{server.url}/a")
        assert body == b"hello"
        await asyncio.wait_for(closed.wait(), 1)
        # The FIN reaches the client's protocol through the event loop; nothing public announces it.
        await asyncio.sleep(0.05)
        _, body = await fetch(client, f"{server.url}/b")
        assert body == b"hello"
        assert server.connections == 2


# 4. Bodies and headers


def _content_length(parts: list[bytes]) -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-length: {sum(map(len, parts))}\r\n\r\n".encode()


def _chunked(parts: list[bytes]) -> bytes:
    return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"


def _until_close(parts: list[bytes]) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n"


@pytest.mark.parametrize("framing", [_content_length, _chunked, _until_close], ids=["length", "chunked", "close"])
async def test_read_returns_the_whole_body_however_it_is_framed(
    client: HTTPClient, framing: Callable[[list[bytes]], bytes]
) -> None:
    parts = [b"alpha-", b"beta-" * 100, b"", b"gamma\r\n0\r\n\r\n"]  # the last one mimics chunked framing
    chunked = framing is _chunked

    async def handle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(framing(parts))
            for part in parts:
                if part or not chunked:  # an empty chunk would end a chunked body
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                await writer.drain()
            if framing is _until_close:
                return
            if chunked:
                writer.write(b"0\r\n\r\n")

    async with RawServer(handle) as server:
        for _ in range(2):
            response, body = await fetch(client, server.url)
            assert body == b"".join(parts)
            assert response.complete
        # Length and chunked answers leave the connection reusable; an answer ended by closing does not.
        assert server.connections == (2 if framing is _until_close else 1)


async def test_read_returns_a_body_larger_than_the_read_buffer(client: HTTPClient) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB, four times the bytes a response buffers before pausing the socket

    async def handle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(body))
        await writer.drain()
        await reader.read()

    async with (
        RawServer(handle) as server,
        await client.request("GET", server.url, timeout=Timeout(read=0.5)) as response,
    ):
        assert await response.read() == body


async def test_text_decodes_by_charset_and_headers_are_lower_cased_and_joined(client: HTTPClient) -> None:
    def respond(request: Request) -> bytes:
        if request.target == "/latin":
            return answer(
                "café ½".encode("latin-1"),
                headers=[("Content-Type", 'text/plain; charset="ISO-8859-1"'), ("X-Mixed-Case", "Kept As Sent")],
            )
        return answer("naïve ☃".encode(), headers=[("content-type", "application/json"), ("Via", "a"), ("VIA", "b, c")])

    async with RawServer(answering(respond)) as server:
        async with await client.request("GET", f"{server.url}/latin", timeout=QUICK) as latin:
            assert await latin.text() == "café ½"
        async with await client.request("GET", f"{server.url}/utf8", timeout=QUICK) as utf8:
            assert await utf8.text() == "naïve ☃"

    assert latin.headers["content-type"] == 'text/plain; charset="ISO-8859-1"'
    assert latin.headers["x-mixed-case"] == "Kept As Sent"
    assert all(name == name.lower() for name in latin.headers)
    assert utf8.headers["via"] == "a, b, c"
    assert "VIA" not in utf8.headers and "Via" not in utf8.headers


# 5-6. Streaming and abandoning


async def test_chunks_yields_each_piece_before_the_next_is_sent(client: HTTPClient) -> None:
    first_seen = asyncio.Event()

    async def handle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nfirst \r\n")
        await writer.drain()
        await first_seen.wait()  # the client must hand out the first piece without the rest
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(handle) as server, await client.request("GET", server.url, timeout=QUICK) as response:
        pieces = []
        async for chunk in response.chunks():
            pieces.append(chunk)
            first_seen.set()
        assert response.complete
    assert pieces[0] == b"first "
    assert b"".join(pieces) == b"first second"


async def test_releasing_an_unread_answer_closes_its_connection(client: HTTPClient) -> None:
    saw_eof = asyncio.Event()

    async def handle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if server.connections == 1:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n" + b"x" * 10)
            await writer.drain()
            if await reader.read() == b"":  # the client hung up without asking anything more
                saw_eof.set()
            return
        await answering(lambda _: answer(b"whole"))(server, reader, writer)

    async with RawServer(handle) as server:
        response = await client.request("GET", server.url, timeout=QUICK)
        async for chunk in response.chunks():
            assert chunk == b"x" * 10
            break
        assert not response.complete
        response.release()
        await asyncio.wait_for(saw_eof.wait(), 1)

        response, body = await fetch(client, server.url)
        assert (body, response.complete) == (b"whole", True)
        assert server.connections == 2


# 7. Timeouts


async def _answer_nothing(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await reader.read()  # until the client gives up


async def test_read_timeout_bounds_the_wait_for_the_answer(client: HTTPClient) -> None:
    async with RawServer(_answer_nothing) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.request("POST", server.url, body=b"{}", timeout=Timeout(read=0.2))
        elapsed = time.monotonic() - started
    assert 0.18 <= elapsed < 2.0  # the bound, with room for a loaded machine (unbounded, it would hang)


async def test_read_timeout_bounds_the_gap_between_chunks(client: HTTPClient) -> None:
    async def first_chunk_only(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await reader.read()

    async with (
        RawServer(first_chunk_only) as server,
        await client.request("GET", server.url, timeout=Timeout(read=0.2)) as response,
    ):
        pieces = []
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async for chunk in response.chunks():
                pieces.append(chunk)
        elapsed = time.monotonic() - started
    assert pieces == [b"first"]
    assert 0.18 <= elapsed < 2.0  # the bound, with room for a loaded machine (unbounded, it would hang)


async def test_total_timeout_bounds_a_trickle_that_keeps_each_read_short(client: HTTPClient) -> None:
    async def trickle(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n")
        for _ in range(1000):
            writer.write(b".")
            await writer.drain()
            await asyncio.sleep(0.03)  # well inside the read bound, every time

    async with RawServer(trickle) as server:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with await client.request("GET", server.url, timeout=Timeout(read=0.2, total=0.3)) as response:
                await response.read()
        elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 2.0  # the total bound, not the trickle's 30 s (room for a loaded machine)


# 8. Faults


async def test_a_refused_connection_is_connect_failed(client: HTTPClient) -> None:
    with pytest.raises(ConnectFailed):
        await client.request("GET", f"http://{HOST}:{free_port()}/", timeout=QUICK)


async def test_a_body_cut_short_is_disconnected(client: HTTPClient) -> None:
    async def cut(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + b"y" * 10)
        await writer.drain()  # and close, 90 bytes short

    async with RawServer(cut) as server, await client.request("GET", server.url, timeout=QUICK) as response:
        with pytest.raises(Disconnected):
            await response.read()
        assert not response.complete


async def test_garbage_instead_of_a_status_line_is_bad_response(client: HTTPClient) -> None:
    async def garbage(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await reader.read()

    async with RawServer(garbage) as server:
        with pytest.raises(BadResponse):
            await client.request("GET", server.url, timeout=QUICK)


@pytest.mark.parametrize(
    "headers",
    [{"x-evil": "a\r\nx-injected: 1"}, {"x-evil": "a\nb"}, {"x-evil\r\nx-injected": "1"}],
    ids=["crlf-value", "lf-value", "crlf-name"],
)
async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent(
    client: HTTPClient, headers: dict[str, str]
) -> None:
    async with RawServer(answering(lambda r: answer(r.target.encode()))) as server:
        await fetch(client, f"{server.url}/before")  # a pooled connection the bad request could have used
        with pytest.raises(ValueError):
            await client.request("POST", f"{server.url}/evil", headers=headers, body=b"x", timeout=QUICK)
        _, body = await fetch(client, f"{server.url}/after")
    assert body == b"/after"
    assert [r.target for r in server.requests] == ["/before", "/after"]
    assert all(not r.header("x-injected") for r in server.requests)
    assert server.connections == 1


# 9. The connection limit


@dataclass
class HeldAnswers:
    """A server that holds every answer until ``release`` is set, counting requests in flight."""

    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    most: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            server.requests.append(request)
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.changed.set()
            try:
                await self.release.wait()
            finally:
                self.in_flight -= 1
            writer.write(answer(request.target.encode()))
            await writer.drain()

    async def until_in_flight(self, count: int) -> None:
        async with asyncio.timeout(1):
            while self.in_flight < count:
                self.changed.clear()
                await self.changed.wait()


async def test_max_connections_bounds_the_exchanges_in_flight() -> None:
    held = HeldAnswers()
    client = HTTPClient(max_connections=2)
    try:
        async with RawServer(held.handle) as server:
            tasks = [asyncio.create_task(fetch(client, f"{server.url}/{n}")) for n in range(5)]
            await held.until_in_flight(2)
            await asyncio.sleep(0.05)  # room for a client that ignored its limit to send a third request
            assert held.in_flight == 2
            assert not any(task.done() for task in tasks)
            held.release.set()
            results = await asyncio.wait_for(asyncio.gather(*tasks), 1.5)
    finally:
        await client.close()
    assert sorted(body for _, body in results) == [f"/{n}".encode() for n in range(5)]
    assert held.most == 2
    assert server.connections == 2  # the three that waited reused the first two's connections


async def _two_at_once(client: HTTPClient, url: str) -> None:
    """Two exchanges can hold slots together (neither released until both are in)."""
    async with asyncio.timeout(1):
        first = await client.request("GET", f"{url}/again-1", timeout=QUICK)
        second = await client.request("GET", f"{url}/again-2", timeout=QUICK)
    assert (await first.read(), await second.read()) == (b"/again-1", b"/again-2")
    first.release()
    second.release()


@pytest.mark.parametrize("order", ["cancel-while-waiting", "release-then-cancel", "cancel-then-release"])
async def test_a_cancelled_waiter_does_not_leak_its_slot(order: str) -> None:
    """A request waiting for one of two slots is cancelled; in the last two cases the cancellation and
    a slot coming free happen in the same turn of the loop (a caller giving up while another finishes)."""
    client = HTTPClient(max_connections=2)
    try:
        async with RawServer(answering(lambda r: answer(r.target.encode()))) as server:
            first = await client.request("GET", f"{server.url}/1", timeout=QUICK)
            second = await client.request("GET", f"{server.url}/2", timeout=QUICK)
            await first.read()
            await second.read()
            waiter = asyncio.create_task(client.request("GET", f"{server.url}/3", timeout=QUICK))
            await asyncio.sleep(0)  # it runs up to its wait for a slot
            assert not waiter.done()

            if order == "cancel-while-waiting":
                waiter.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiter
                first.release()
            elif order == "release-then-cancel":
                first.release()  # hands the slot to the waiter ...
                waiter.cancel()  # ... which is cancelled before it runs
                with pytest.raises(asyncio.CancelledError):
                    await waiter
            else:
                waiter.cancel()
                first.release()
                with pytest.raises(asyncio.CancelledError):
                    await waiter
            second.release()

            await _two_at_once(client, server.url)
    finally:
        await client.close()
    assert "/3" not in [r.target for r in server.requests]


# 10. Backpressure


async def test_a_large_stream_read_slowly_arrives_whole_and_in_order(client: HTTPClient) -> None:
    piece = 64 * 1024
    total = 16 * 1024 * 1024
    sent = 0
    finished = asyncio.Event()

    pieces = [
        n.to_bytes(4, "big") * (piece // 4) for n in range(total // piece)
    ]  # lost, repeated or reordered bytes show

    async def stream(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        writer.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, piece)
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for data in pieces:
            writer.write(b"%x\r\n%s\r\n" % (piece, data))
            await writer.drain()
            sent += piece
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        finished.set()
        await reader.read()

    async with RawServer(stream) as server, await client.request("GET", server.url, timeout=QUICK) as response:
        received = []
        stalled = False
        async for chunk in response.chunks():
            received.append(chunk)
            if not stalled:  # a slow reader: the server must be held back, not buffered without end
                stalled = True
                await asyncio.sleep(0.2)
                assert not finished.is_set()
                assert sent < total // 2
        assert response.complete
    assert b"".join(received) == b"".join(pieces)


# 11. TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, and its key."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextlib.asynccontextmanager
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[RawServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    async with RawServer(answering(lambda _: answer(b"secret")), tls=context) as server:
        yield server


async def test_tls_with_the_certificate_trusted(certificate: tuple[Path, Path]) -> None:
    client = HTTPClient(ssl_context=ssl.create_default_context(cafile=str(certificate[0])))
    try:
        async with tls_server(certificate) as server:
            assert server.url.startswith("https://")
            for _ in range(2):
                response, body = await fetch(client, f"{server.url}/v1/models")
                assert (response.status, body) == (200, b"secret")
    finally:
        await client.close()
    assert server.connections == 1
    assert [r.target for r in server.requests] == ["/v1/models", "/v1/models"]


async def test_tls_refuses_a_certificate_the_system_does_not_trust(
    client: HTTPClient, certificate: tuple[Path, Path]
) -> None:
    async with tls_server(certificate) as server:
        with pytest.raises(ConnectFailed):
            await client.request("GET", server.url, timeout=QUICK)
    assert server.requests == []


# 12. raise_for_status


@pytest.mark.parametrize("status", [200, 204, 399, 400, 404, 429, 500, 503])
async def test_raise_for_status(client: HTTPClient, status: int) -> None:
    async with RawServer(answering(lambda _: answer(b"", status=status))) as server:
        response, _ = await fetch(client, server.url)
    assert response.status == status
    if status < 400:
        response.raise_for_status()
    else:
        with pytest.raises(StatusRefused) as refused:
            response.raise_for_status()
        assert refused.value.status == status


async def test_bytes_after_a_complete_answer_are_not_taken_for_the_next_one(client: HTTPClient) -> None:
    """A server that sends a second answer nobody asked for: the connection is not reused, so the
    next request gets its own answer on a new connection, not the stray one."""

    async def talkative(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if server.connections > 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nagain")
            await writer.drain()
            await reader.read()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 500 Stray\r\ncontent-length: 5\r\n\r\nstray")
        await writer.drain()
        await reader.read()

    async with RawServer(talkative) as server:
        response = await client.request("GET", server.url, timeout=Timeout(read=1))
        assert await response.read() == b"first"
        await asyncio.sleep(0.2)  # the stray answer arrives before the answer is released
        response.release()
        async with await client.request("GET", server.url, timeout=Timeout(read=1)) as second:
            assert (second.status, await second.read()) == (200, b"again")
        assert server.connections == 2


async def test_an_interim_answer_is_skipped_for_the_answer_that_follows(client: HTTPClient) -> None:
    """103 Early Hints (or a 100 Continue nobody asked for), then a pause, then the answer: the caller
    sees the answer, and the connection is kept for the next request."""

    async def hinting(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 201 Created\r\ncontent-length: 4\r\nx-final: yes\r\n\r\ndone")
            await writer.drain()

    async with RawServer(hinting) as server:
        for _ in range(2):
            async with await client.request("POST", server.url, body=b"{}", timeout=Timeout(read=1)) as response:
                body = await response.read()
                assert (response.status, response.headers.get("x-final"), body) == (201, "yes", b"done")
                assert "link" not in response.headers
        assert server.connections == 1


async def test_connections_left_idle_under_a_steady_trickle_are_let_go() -> None:
    """After a burst of three, one request at a time reuses the newest connection; the two below it,
    idle past ``keep_idle``, are closed by the client (the server sees their end), not kept forever.
    (Were the loop stalled past ``keep_idle`` between two requests, the newest would be replaced too:
    so the check is that every connection but the one in use ended.)"""
    ended = 0
    arrived = 0
    all_in = asyncio.Event()

    async def counting(server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal ended, arrived
        while await read_request(reader) is not None:
            arrived += 1
            if arrived == 3:
                all_in.set()
            await all_in.wait()  # the burst's three answers wait for each other: three connections
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        ended += 1

    http = HTTPClient(keep_idle=0.5)
    try:
        async with RawServer(counting) as server:
            await asyncio.gather(*(fetch(http, server.url) for _ in range(3)))
            assert server.connections == 3
            deadline = time.monotonic() + 5
            while ended < 2:
                assert time.monotonic() < deadline, f"{2 - ended} idle connections were never let go"
                assert (await fetch(http, server.url))[1] == b"ok"
                await asyncio.sleep(0.05)
            assert ended == server.connections - 1  # the one in use is kept
    finally:
        await http.close()
