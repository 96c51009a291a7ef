"""unless_disconnected: the work's result while the client stays; its cancellation and ClientGone when
the client leaves; any other cancellation passed on as it came; and the watch gone once it returns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.edge.asgi import ClientGone, unless_disconnected


class Client:
    """An ASGI ``receive`` after the body was read, as uvicorn's: it waits on an event until the client
    leaves (or, with ``chatter``, says an empty ``http.request`` that many times first). ``bare_yield``:
    it first waits as ``asyncio.sleep(0)`` does, on no future."""

    def __init__(self, *, chatter: int = 0, bare_yield: bool = False) -> None:
        self.event = asyncio.Event()
        self.gone = False
        self.chatter = chatter
        self.bare_yield = bare_yield

    async def receive(self) -> dict[str, Any]:
        if self.bare_yield:
            await asyncio.sleep(0)
        if self.chatter:
            self.chatter -= 1
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.event.wait()
        return {"type": "http.disconnect"} if self.gone else {"type": "http.request", "body": b""}

    def leave(self) -> None:
        self.gone = True
        self.event.set()

    @property
    def waiting(self) -> int:
        return len(self.event._waiters)


async def test_the_result_comes_back_and_the_watch_lets_go() -> None:
    client = Client()

    async def work() -> str:
        await asyncio.sleep(0.01)
        assert client.waiting == 1  # watched meanwhile
        return "answer"

    assert await unless_disconnected(client.receive, work()) == "answer"
    await asyncio.sleep(0)
    assert client.waiting == 0
    client.leave()  # after the answer: nothing is cancelled any more
    await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "client", [Client(), Client(chatter=2), Client(bare_yield=True)], ids=["plain", "chatter", "bare"]
)
async def test_a_client_that_leaves_cancels_the_work(client: Client) -> None:
    cancelled = asyncio.Event()

    async def work() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    asyncio.get_running_loop().call_later(0.01, client.leave)
    with pytest.raises(ClientGone):
        await asyncio.wait_for(unless_disconnected(client.receive, work()), 5)
    assert cancelled.is_set()


async def test_a_cancellation_from_elsewhere_is_not_the_client_leaving() -> None:
    client = Client()
    task = asyncio.ensure_future(unless_disconnected(client.receive, asyncio.sleep(10)))
    await asyncio.sleep(0.01)
    task.cancel()  # a server shutting down
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert client.waiting == 0


async def test_a_client_gone_before_the_work_began() -> None:
    client = Client()
    client.leave()
    with pytest.raises(ClientGone):
        await unless_disconnected(client.receive, asyncio.sleep(10))


async def test_an_answer_that_ends_the_wait_as_it_returns_is_not_cancelled() -> None:
    """uvicorn wakes ``receive()`` when the answer's last byte is sent, which a stream's is inside the
    watch: the wake-up comes after the watch stopped, and must cancel nothing."""
    client = Client()

    async def work() -> str:
        await asyncio.sleep(0)
        client.leave()
        return "answer"

    assert await unless_disconnected(client.receive, work()) == "answer"
    await asyncio.sleep(0.01)  # raises CancelledError if the late wake-up cancelled this task


async def test_a_receive_that_fails_ends_the_watch_not_the_work() -> None:
    told: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: told.append(context))

    async def broken() -> dict[str, Any]:
        raise RuntimeError("receive broke")

    assert await unless_disconnected(broken, asyncio.sleep(0.01, "answer")) == "answer"
    await asyncio.sleep(0)
    assert [str(context["exception"]) for context in told] == ["receive broke"]
