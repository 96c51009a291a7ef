"""Running the app under the production ASGI server."""

from __future__ import annotations

import tempfile
from collections.abc import MutableMapping
from pathlib import Path

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
