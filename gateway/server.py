"""Running the app under the production ASGI server."""

from __future__ import annotations

import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from gateway.settings import Settings

FACTORY = "gateway.app:app_from_environment"
PROTOCOL = "gateway.edge.http_guard:GuardedHttpToolsProtocol"


def serve(*, host: str, port: int, workers: int, settings: Settings) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from gateway.edge.http_guard import ConnectionLimits, GuardedConfig

    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        read_timeout=settings.request_read_timeout_seconds,
        keep_alive_timeout=settings.keep_alive_timeout_seconds,
    )
    config = GuardedConfig(
        FACTORY,
        limits=limits,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=PROTOCOL,
        access_log=False,
        log_level=settings.log_level,
        # Without it uvicorn waits for every request in flight, however long, before it exits.
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
    server = uvicorn.Server(config)
    if workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        server.run()


def share_metrics_between_workers(environ: MutableMapping[str, str]) -> Path:
    """Point prometheus-client's multiprocess mode at an empty folder, before any worker imports it.

    A folder named by ``PROMETHEUS_MULTIPROC_DIR`` is emptied: values left by an earlier run would
    otherwise be added to this one's. Without it, a fresh temporary folder is used."""
    given = environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="tollgate-metrics-"))
        environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return folder
