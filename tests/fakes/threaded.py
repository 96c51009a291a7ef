"""Run an aiohttp app on its own event loop in a thread, so sync clients can call it too."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from tests.support.ports import free_port


@contextmanager
def serve_in_thread(app: web.Application, port: int | None = None) -> Iterator[str]:
    """Yield the app's root URL (``http://127.0.0.1:PORT``) while it serves."""
    port = port or free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False, handler_cancellation=True, shutdown_timeout=1)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
