"""Running the app under the production ASGI server."""

from __future__ import annotations

FACTORY = "gateway.app:app_from_environment"


def serve(*, host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
