"""Serve a fake's aiohttp app on the test's own event loop (the async tests' counterpart of
:func:`tests.fakes.threaded.serve_in_thread`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serve_here(app: web.Application) -> AsyncIterator[str]:
    """Yield the app's root URL (``http://127.0.0.1:PORT``, a free port) while it serves."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()
