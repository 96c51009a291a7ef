"""What the admin API does with routing: show it, reload it from the config, steer rollouts."""

from __future__ import annotations

from collections.abc import Callable

from backends.base import BackendContext
from gateway.core.errors import InvalidRequest, NotFound
from gateway.db.models.base import utcnow
from gateway.routing import rollout_actions
from gateway.routing.pool import Pool
from gateway.routing.rollout import Canary
from gateway.routing.rollouts import Rollouts, follow
from gateway.routing.router import Router
from gateway.routing.table import RoutingTable
from gateway.routing.wire import DeploymentOut, ReloadOut, ReplicaOut, RolloutOut, RoutingOut, SleepOut
from gateway.settings import ConfigError, Settings


def overview(router: Router) -> RoutingOut:
    table = router.table
    rollouts = [_rollout_out(m.canary) for m in table.models.values() if m.canary is not None]
    return RoutingOut(deployments=[_deployment_out(p) for p in table.pools.values()], rollouts=rollouts)


def reload(router: Router, read: Callable[[], Settings] | None, ctx: BackendContext) -> tuple[Settings, ReloadOut]:
    """Build a table from the config as it is now and swap it in; a bad config changes nothing."""
    if read is None:
        raise InvalidRequest("This gateway was not started from a config it can read again.", code="reload_unavailable")
    try:
        settings = read()
    except ConfigError as exc:
        raise InvalidRequest(f"The config was not reloaded: {exc}", code="invalid_config") from exc
    old = router.table
    table = RoutingTable(settings, ctx, old.clock, old)
    router.swap(table)
    before = {r.key for r in old.replicas()}
    after = {r.key for r in table.replicas()}
    out = ReloadOut(added=sorted(after - before), removed=sorted(before - after), replicas=len(after))
    return settings, out


async def promote(router: Router, rollouts: Rollouts, model: str, actor: str = "admin api") -> RolloutOut:
    canary = _canary(router, model)
    follow(canary, await rollout_actions.promote(rollouts.store, model, actor, utcnow()))
    return _rollout_out(canary)


async def rollback(router: Router, rollouts: Rollouts, model: str, actor: str = "admin api") -> RolloutOut:
    """Every gateway follows within ``routing.rollout_interval``; this one at once."""
    canary = _canary(router, model)
    follow(canary, await rollout_actions.rollback(rollouts.store, model, actor, utcnow()))
    return _rollout_out(canary)


def _canary(router: Router, model: str) -> Canary:
    route = router.table.models.get(model)
    if route is None or route.canary is None:
        raise NotFound(f"The model '{model}' has no rollout.", code="rollout_not_found")
    return route.canary


def _deployment_out(pool: Pool) -> DeploymentOut:
    replicas = [
        ReplicaOut(
            key=r.key,
            healthy=r.healthy,
            circuit=r.breaker.state.value,
            outstanding=r.outstanding,
            served=r.served,
            latency_ms=round(r.latency * 1000, 3),
            engine_waiting=None if r.load is None else r.load.waiting,
            engine_running=None if r.load is None else r.load.running,
        )
        for r in pool.replicas
    ]
    wake = pool.wake
    sleep = (
        None
        if wake is None
        else SleepOut(
            phase=wake.phase.value,
            seconds_in_phase=round(wake.clock() - wake.changed_at, 3),
            last_cold_start_seconds=wake.last_cold_start,
        )
    )
    return DeploymentOut(
        name=pool.name,
        region=pool.region,
        strategy=pool.strategy,
        queued=pool.waiting(),
        replicas=replicas,
        sleep=sleep,
    )


def _rollout_out(canary: Canary) -> RolloutOut:
    ours, theirs = canary.canary.summary(), canary.stable.summary()
    return RolloutOut(
        model=canary.model,
        canary=canary.rollout.backend,
        state=canary.state,
        share=canary.share,
        reason=canary.reason,
        canary_requests=ours.requests,
        canary_error_rate=ours.error_rate,
        canary_p99_ms=round(ours.p99 * 1000, 3),
        stable_requests=theirs.requests,
        stable_error_rate=theirs.error_rate,
        stable_p99_ms=round(theirs.p99 * 1000, 3),
        stage=canary.stage,
        stages=list(canary.rollout.shares()),
    )
