"""How a stream's chunks become ASGI writes: those ready together in one, none held while the source waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.edge.asgi import write_stream


class Recorder:
    """An ASGI ``send`` that keeps what it was sent; ``stall`` makes body writes wait until released."""

    def __init__(self, *, stall: bool = False) -> None:
        self.messages: list[dict[str, Any]] = []
        self.stall = stall
        self.released = asyncio.Event()

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        if self.stall and message["type"] == "http.response.body":
            await self.released.wait()

    @property
    def bodies(self) -> list[tuple[bytes, bool]]:
        return [(m["body"], m["more_body"]) for m in self.messages if m["type"] == "http.response.body"]


async def test_chunks_ready_together_leave_in_one_write_that_ends_the_body() -> None:
    async def ready() -> AsyncIterator[bytes]:
        for chunk in (b"a", b"b", b"c"):
            yield chunk

    send = Recorder()
    await write_stream(send, ready(), {"x-request-id": "r1"})
    start = send.messages[0]
    assert start["type"] == "http.response.start" and start["status"] == 200
    assert (b"content-type", b"text/event-stream") in start["headers"]
    assert (b"x-request-id", b"r1") in start["headers"]
    assert send.bodies == [(b"abc", False)]


async def test_what_is_held_goes_out_before_the_source_waits() -> None:
    send = Recorder()

    async def slow() -> AsyncIterator[bytes]:
        yield b"first"
        yield b"second"
        await asyncio.sleep(0.01)  # the upstream has sent nothing more yet
        assert send.bodies == [(b"firstsecond", True)]  # nothing ready waits on what is not
        yield b"third"

    await write_stream(send, slow(), {})
    assert send.bodies == [(b"firstsecond", True), (b"third", False)]


async def test_an_empty_stream_still_ends_its_body() -> None:
    async def empty() -> AsyncIterator[bytes]:
        return
        yield b""

    send = Recorder()
    await write_stream(send, empty(), {})
    assert send.bodies == [(b"", False)]


async def test_a_cancellation_while_a_write_waits_reaches_the_waiting_source() -> None:
    """The client leaves while a write is held up: the source, waiting for the upstream, is
    cancelled too and closes (as the relay closes its upstream), and the cancellation propagates."""
    send = Recorder(stall=True)
    seen: list[str] = []

    async def source() -> AsyncIterator[bytes]:
        try:
            yield b"one"
            await asyncio.sleep(10)
            yield b"two"
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        finally:
            seen.append("closed")

    task = asyncio.ensure_future(write_stream(send, source(), {}))
    while not send.bodies:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == ["cancelled", "closed"]
    assert send.bodies == [(b"one", True)]


async def test_a_failing_source_fails_the_stream_after_what_it_sent() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"one"
        await asyncio.sleep(0)
        raise RuntimeError("upstream broke")

    send = Recorder()
    with pytest.raises(RuntimeError, match="upstream broke"):
        await write_stream(send, failing(), {})
    assert send.bodies == [(b"one", True)]


async def test_what_was_ready_is_sent_before_a_source_that_fails_at_once_fails_the_stream() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"one"
        yield b"two"
        raise RuntimeError("relay broke")

    send = Recorder()
    with pytest.raises(RuntimeError, match="relay broke"):
        await write_stream(send, failing(), {})
    assert send.bodies == [(b"onetwo", True)]
