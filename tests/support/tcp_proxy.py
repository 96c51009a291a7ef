"""A TCP proxy a test can cut and restore, to take a real Postgres or Redis "down" for one gateway
without stopping the server that every other test (and engineer) on the machine shares. Given several
targets it is a round-robin load balancer (the soak puts two replicas behind one)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.ports import free_port


class TcpProxy:
    """Relays 127.0.0.1:``port`` to ``target``. While cut, open connections are closed and new ones
    are accepted and closed at once (as a server that went away looks to a client)."""

    def __init__(self, *targets: tuple[str, int]) -> None:
        self.targets = list(targets)
        self._next = 0
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._cut = False
        self._writers: set[asyncio.StreamWriter] = set()

    def cut(self) -> None:
        self._cut = True
        asyncio.run_coroutine_threadsafe(self._close_all(), self.loop).result(5)

    def restore(self) -> None:
        self._cut = False

    async def _close_all(self) -> None:
        for writer in list(self._writers):
            writer.close()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.close()
            return
        target = self.targets[self._next % len(self.targets)]
        self._next += 1
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, upstream_writer))
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except asyncio.CancelledError:  # the proxy is shutting down: the connection just ends
            pass
        finally:
            self._writers.difference_update((writer, upstream_writer))
            writer.close()
            upstream_writer.close()

    async def _shutdown(self) -> None:
        await self._close_all()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve_client, "127.0.0.1", self.port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@contextmanager
def running_proxy(*targets: tuple[str, int]) -> Iterator[TcpProxy]:
    proxy = TcpProxy(*targets)
    thread = threading.Thread(target=proxy.loop.run_forever, daemon=True)
    thread.start()
    server = asyncio.run_coroutine_threadsafe(proxy._start(), proxy.loop).result(5)
    try:
        yield proxy
    finally:
        proxy.loop.call_soon_threadsafe(server.close)
        asyncio.run_coroutine_threadsafe(proxy._shutdown(), proxy.loop).result(5)
        proxy.loop.call_soon_threadsafe(proxy.loop.stop)
        thread.join(5)
