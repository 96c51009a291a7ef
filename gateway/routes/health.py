"""``/healthz`` (the process is alive) and ``/readyz`` (its upstreams can be reached)."""

from __future__ import annotations

import asyncio

from litestar import Response, get

from gateway.errors import HttpRequest
from gateway.routing.replicas import Replica
from gateway.state import AppState


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz")
async def readyz(request: HttpRequest) -> Response[dict[str, object]]:
    state: AppState = request.app.state.tollgate
    table = state.router.table
    names = list(table.pools)
    results = await asyncio.gather(*(_any_ready(table.pools[n].replicas) for n in names))
    backends = {name: ("ok" if ok else "unreachable") for name, ok in zip(names, results, strict=True)}
    # Ready when every public model has at least one deployment that answers.
    serving = all(any(backends[d.backend] == "ok" for d in m.deployments) for m in table.settings.models)
    body: dict[str, object] = {"status": "ready" if serving else "degraded", "backends": backends}
    return Response(body, status_code=200 if serving else 503)


async def _any_ready(replicas: list[Replica]) -> bool:
    """A deployment answers when any of its replicas does."""
    return any(await asyncio.gather(*(r.backend.ready() for r in replicas)))


@get("/metrics", media_type="text/plain; version=0.0.4")
async def metrics(request: HttpRequest) -> bytes:
    state: AppState = request.app.state.tollgate
    return state.metrics.render()


ROUTES = [healthz, readyz, metrics]
