"""``/healthz`` (the process is alive), ``/readyz`` (its dependencies answer) and ``/metrics``.

``/readyz`` is for load balancers and operators. Anyone gets the overall status and what is wrong
with the gateway's own machinery (the usage journal and its drain, Redis), each with a reason in
``reasons``; the names of the backends and whether each answers only the admin token gets, because
they map the operator's infrastructure. ``/metrics`` asks for ``metrics_token`` when one is set.
"""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.di import NamedDependency

from gateway.admission.redis_watch import RedisWatch
from gateway.core.errors import AuthenticationFailed
from gateway.edge.bearer import bearer_matches
from gateway.edge.errors import HttpRequest
from gateway.metering.drain import JournalDrain
from gateway.metering.journal import Journal, JournalUnavailable
from gateway.metrics import Metrics
from gateway.routing.metrics import publish_routing_state
from gateway.routing.replicas import Replica
from gateway.routing.router import Router
from gateway.settings import Settings

Body = dict[str, object]


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@get("/readyz")
async def readyz(
    request: HttpRequest,
    router: NamedDependency[Router],
    settings: NamedDependency[Settings],
    journal: NamedDependency[Journal | None],
    drain: NamedDependency[JournalDrain | None],
    redis_watch: NamedDependency[RedisWatch | None],
) -> Response[Body]:
    """200 while the gateway can serve (``ready``, or ``degraded`` with its reasons), 503 when it cannot."""
    table = router.table
    names = list(table.pools)
    results = await asyncio.gather(*(_any_ready(table.pools[n].replicas) for n in names))
    backends = {name: ("ok" if ok else "unreachable") for name, ok in zip(names, results, strict=True)}
    for name in names:  # a pool that scales to zero wakes on the next request (gateway/routing/wake.py)
        if backends[name] != "ok" and table.pools[name].wake is not None:
            backends[name] = "asleep"
    # Ready when every public model has at least one deployment that answers (or wakes).
    serving = all(any(backends[d.backend] in ("ok", "asleep") for d in m.deployments) for m in table.settings.models)
    reasons = [] if serving else ["a model has no deployment that answers"]
    body: Body = {"status": "ready"}
    if bearer_matches(request.headers.get("authorization"), settings.admin_token):
        body["backends"] = backends
    serving = _journal(journal, drain, body, reasons) and serving
    _redis(redis_watch, body, reasons)
    if reasons:
        body["status"] = "degraded"
        body["reasons"] = reasons
    return Response(body, status_code=200 if serving else 503)


def _journal(journal: Journal | None, drain: JournalDrain | None, body: Body, reasons: list[str]) -> bool:
    """The usage journal and its drain; False when billable requests are refused (out of rotation).

    A database that is down, or a drain process that died (restarted within seconds), leaves usage
    waiting in the journal: requests are still served and metered, so the replica stays in rotation
    and says it is degraded. A journal that cannot be written refuses billable requests: 503."""
    if drain is None or journal is None:
        return True
    writable = _writable(journal)
    health = "ok" if drain.healthy else "failing"
    if not drain.alive:
        health = "down"
    lag = drain.lag_bytes()
    body["usage_journal"] = {"writable": writable, "drain": health, "lag_bytes": lag}
    if not writable:
        reasons.append("the usage journal cannot be written: billable requests are refused")
    if health == "down":
        reasons.append(f"the journal drain process is down (being restarted); {lag} bytes of usage wait")
    elif health == "failing":
        reasons.append(f"the database refuses usage; {lag} bytes of usage wait in the journal")
    return writable


def _redis(watch: RedisWatch | None, body: Body, reasons: list[str]) -> None:
    if watch is None:
        return
    down_for = watch.down_for
    body["redis"] = "ok" if down_for is None else "unreachable"
    if down_for is not None:
        reasons.append(f"Redis has not answered for {down_for:.0f} s: {watch.policy}")


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
async def metrics(
    request: HttpRequest,
    settings: NamedDependency[Settings],
    router: NamedDependency[Router],
    metrics: NamedDependency[Metrics],
) -> bytes:
    token = settings.metrics_token
    if token and not bearer_matches(request.headers.get("authorization"), token):
        raise AuthenticationFailed(
            "/metrics needs 'Authorization: Bearer <metrics token>'; the token given is missing or wrong.",
            code="invalid_metrics_token",
            headers={"www-authenticate": 'Bearer realm="tollgate-metrics"'},
        )
    publish_routing_state(router.table, metrics)
    return metrics.render()


ROUTES = [healthz, readyz, metrics]
