"""``/healthz`` (the process is alive) and ``/readyz`` (its upstreams can be reached)."""

from __future__ import annotations

import asyncio

from litestar import Response, get

from gateway.errors import HttpRequest
from gateway.metering.journal import Journal, JournalUnavailable
from gateway.routing.metrics import publish_routing_state
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
    journal = state.pipeline.meter.journal
    if state.drain is not None and journal is not None:
        writable = _writable(journal)
        drained = state.drain.healthy
        body["usage_journal"] = {
            "writable": writable,
            "drain": "ok" if drained else "failing",
            "lag_bytes": state.drain.lag_bytes(),
        }
        # A database that is down leaves usage waiting in the journal: requests are still served and
        # metered, so the replica stays in rotation (200) and says it is degraded. A journal that
        # cannot be written refuses billable requests: out of rotation (503).
        serving = serving and writable
        if not (serving and drained):
            body["status"] = "degraded"
    return Response(body, status_code=200 if serving else 503)


def _writable(journal: Journal) -> bool:
    try:
        journal.check_writable()
    except JournalUnavailable:
        return False
    return True


async def _any_ready(replicas: list[Replica]) -> bool:
    """A deployment answers when any of its replicas does."""
    return any(await asyncio.gather(*(r.backend.ready() for r in replicas)))


@get("/metrics", media_type="text/plain; version=0.0.4")
async def metrics(request: HttpRequest) -> bytes:
    state: AppState = request.app.state.tollgate
    publish_routing_state(state.router.table, state.metrics)
    return state.metrics.render()


ROUTES = [healthz, readyz, metrics]
