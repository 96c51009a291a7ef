"""Everything the app holds for its lifetime, built once in the lifespan and injected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from backends.base import BackendContext
from backends.http import build_client
from backends.http_client import HTTPClient
from gateway.admission.memory import MemoryStore
from gateway.admission.redis_store import RedisStore
from gateway.admission.redis_watch import RedisWatch
from gateway.admission.seeds import Seeds
from gateway.admission.service import Admission
from gateway.admission.store import AdmissionStore
from gateway.batches.lane import BatchLane
from gateway.cache.build import build_cache
from gateway.core.ids import RequestIds
from gateway.core.redis_pipe import RedisPipe
from gateway.customers.anonymous import anonymous_principal
from gateway.dashboard.sign_in import SignInGuard
from gateway.db.engine import build_engine, session_factory
from gateway.generation.media import MediaService
from gateway.generation.pipeline import Pipeline
from gateway.keys.cache import KeyCache
from gateway.keys.store import KeyStore
from gateway.keys.sync import KeySync
from gateway.metering import pool_hours, price_book
from gateway.metering.drain import JournalDrain
from gateway.metering.drain_watch import DrainWatch
from gateway.metering.journal_owner import open_journal
from gateway.metering.meter import Meter
from gateway.metering.price_sync import publish_config_prices
from gateway.metrics import Metrics
from gateway.observability.access_log import AccessLog
from gateway.observability.requests import RequestObserver
from gateway.observability.tracing import build_tracing
from gateway.routing import admin as routing_admin
from gateway.routing import monitor, pool_readings
from gateway.routing.rollouts import Rollouts, build_rollouts
from gateway.routing.router import Router
from gateway.routing.shared import SharedRouting
from gateway.routing.table import RoutingTable
from gateway.routing.wire import ReloadOut
from gateway.settings import Settings
from gateway.tokens import Tokenizer

if TYPE_CHECKING:
    from billing.job import BillingJob


# Redis fails fast wherever the gateway reaches it: admission waits on it, and an outage must cost a
# request milliseconds, not a client library's default retries.
REDIS_CONNECT_TIMEOUT = 0.5
REDIS_REPLY_TIMEOUT = 2.0


@dataclass(slots=True)
class AppState:
    settings: Settings
    http: HTTPClient
    tokens: Tokenizer
    ctx: BackendContext
    router: Router
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    pipeline: Pipeline
    drain: JournalDrain | None
    key_sync: KeySync
    metrics: Metrics
    observer: RequestObserver
    media: MediaService
    redis: Any | None = None
    # The pipelined connection of the hot path: admission's scripts and the response cache's entries.
    pipe: RedisPipe | None = None
    ids: RequestIds = field(default_factory=RequestIds)
    # Called with a key's hash after the admin API revoked it, to evict it from the auth caches.
    key_revoked: Callable[[str], Awaitable[None]] | None = None
    # Billing through Stripe, when the config has a ``stripe`` block.
    billing: BillingJob | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # Reads the config again (``POST /admin/reload``); None when it came from no file.
    reload: Callable[[], Settings] | None = None
    # Whether Redis answers (``/readyz``); None without Redis.
    redis_watch: RedisWatch | None = None
    # The dashboard's sign-in throttle and revoked sessions.
    sign_in: SignInGuard = field(default_factory=SignInGuard)
    # The /v1/batches lane of this process (gateway/batches/lane.py); None when batches.enabled is false.
    batch_lane: BatchLane | None = None
    # The staged rollouts' shared verdicts (gateway/routing/rollouts.py).
    rollouts: Rollouts | None = None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(work))

    def reload_routing(self) -> ReloadOut:
        """Read the config again (``POST /admin/reload``): backends, models and routing change; other
        settings need a restart. A config that cannot be read changes nothing."""
        settings, out = routing_admin.reload(self.router, self.reload, self.ctx)
        self.settings = msgspec.structs.replace(
            self.settings, backends=settings.backends, models=settings.models, routing=settings.routing
        )
        return out


async def start_state(settings: Settings, tokens: Tokenizer | None = None) -> AppState:
    """Build everything, replay what an earlier run left in the journal, and start background work."""
    http = build_client()
    tokens = tokens or Tokenizer()
    ctx = BackendContext(http=http, tokens=tokens)
    engine = build_engine(settings.database_url)
    sessions = session_factory(engine)
    await publish_config_prices(sessions, settings)
    journal = open_journal(settings) if settings.meter_usage else None
    metrics = Metrics(settings.metrics_multiprocess_dir)
    observer = _observer(settings, metrics)
    meter = Meter(journal, await price_book.load_current(sessions), observer.metered)
    store = KeyStore(sessions)
    keys = KeyCache(store.load)
    redis = _redis(settings.redis_url)
    pipe = (
        RedisPipe(settings.redis_url, connect_timeout=REDIS_CONNECT_TIMEOUT, reply_timeout=REDIS_REPLY_TIMEOUT)
        if settings.redis_url
        else None
    )
    # With Redis, pools' bounds, breakers and rollout verdicts hold for every replica (gateway/routing/shared.py).
    shared = SharedRouting(pipe, redis, settings.redis_namespace, settings.routing) if pipe and redis else None
    router = Router(RoutingTable(settings, ctx, time.monotonic, None, shared), settings.routing, metrics)
    key_sync = KeySync(keys, store.changed_since, redis, settings.key_poll_seconds, settings.redis_namespace)
    admission = _admission(settings, sessions, metrics, pipe)
    anonymous = (
        await anonymous_principal(sessions, settings.anonymous_customer) if settings.anonymous_customer else None
    )
    cache = build_cache(settings, redis, pipe, metrics, router, meter)
    drain = JournalDrain(journal, settings.database_url) if journal is not None else None
    if drain is not None:
        drain.start()
    pipeline = Pipeline(
        router,
        keys,
        meter,
        tokens,
        admission,
        anonymous=anonymous,
        reserve_output_tokens=settings.reserve_output_tokens,
        cache=cache,
    )
    state = AppState(
        settings=settings,
        http=http,
        tokens=tokens,
        ctx=ctx,
        router=router,
        engine=engine,
        sessions=sessions,
        pipeline=pipeline,
        drain=drain,
        key_sync=key_sync,
        metrics=metrics,
        observer=observer,
        media=MediaService(pipeline, {model.name: model.limits for model in settings.models}),
        redis=redis,
        pipe=pipe,
        key_revoked=key_sync.key_changed,
        billing=_billing(settings, sessions, metrics),
        redis_watch=RedisWatch(pipe, metrics, settings.admission_fail_open) if pipe is not None else None,
        sign_in=SignInGuard(pipe, settings.redis_namespace),
        rollouts=build_rollouts(sessions, redis, settings.redis_namespace, metrics),
    )
    state.spawn(observer.flush_forever())
    if settings.batches.enabled:
        state.batch_lane = BatchLane(sessions, pipeline, settings.batches, settings.max_messages)
        state.spawn(state.batch_lane.run_forever())
        state.spawn(state.batch_lane.renew_forever())
    if drain is not None:
        state.spawn(drain.report_forever(metrics))
        state.spawn(DrainWatch(drain, metrics).watch_forever())
        state.spawn(drain.journal.sync_forever())
    if state.redis_watch is not None:
        state.spawn(state.redis_watch.watch_forever())
    state.spawn(key_sync.poll_forever())
    state.spawn(key_sync.listen_forever())
    state.spawn(price_book.follow(sessions, meter.use_price_book, settings.price_poll_seconds))
    state.spawn(admission.follow_topups(Seeds(sessions).recent_topups, settings.credit_poll_seconds))
    if state.billing is not None and state.billing.settings.run_in_gateway:
        state.spawn(state.billing.run_forever())
    if cache is not None:
        state.spawn(cache.follow())
    state.spawn(monitor.check_health_forever(lambda: router.table, settings.routing.health_interval))
    state.spawn(monitor.scrape_load_forever(lambda: router.table, settings.routing.metrics_interval))

    def pools_now() -> list[pool_hours.Reading]:  # serving costs: the router's pools after any reload
        return pool_readings.readings(router.table, pool_hours.pool_prices(state.settings))

    for task in pool_hours.tasks(sessions, lambda: state.settings, pools_now):
        state.spawn(task)
    if shared is not None:
        state.spawn(shared.follow_forever(lambda: router.table))
    await _follow_rollouts(state)
    return state


async def _follow_rollouts(state: AppState) -> None:
    """Route by the rollouts' shared state from the first request (it outlives restarts), then follow it."""
    assert state.rollouts is not None
    try:
        await state.rollouts.tick(state.router.table)
    except (SQLAlchemyError, RedisError, OSError) as exc:
        logging.getLogger("tollgate.rollout").warning("rollouts start at their first stage here: %s", exc)
    state.spawn(state.rollouts.run_forever(lambda: state.router.table, state.settings.routing.rollout_interval))


def _observer(settings: Settings, metrics: Metrics) -> RequestObserver:
    log = AccessLog() if settings.access_log else None
    tracing = build_tracing(settings.tracing) if settings.tracing is not None else None
    return RequestObserver(metrics, log, tracing)


def _admission(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], metrics: Metrics, pipe: RedisPipe | None
) -> Admission:
    """Counters in Redis when it is configured (shared by every replica), in this process otherwise."""
    store: AdmissionStore = RedisStore(pipe, settings.redis_namespace) if pipe is not None else MemoryStore()
    seeds = Seeds(sessions)
    return Admission(
        store, metrics, seed_budget=seeds.budget, seed_credit=seeds.credit, fail_open=settings.admission_fail_open
    )


def _billing(settings: Settings, sessions: async_sessionmaker[AsyncSession], metrics: Metrics) -> BillingJob | None:
    if settings.stripe is None:
        return None
    from billing.job import BillingJob  # Stripe's SDK is slow to import: only when billing is on

    return BillingJob(sessions, settings.stripe, metrics.stripe_synced)


def _redis(url: str | None) -> Any | None:
    """The redis-py client of key-change messages and the semantic index's sync, failing as fast as
    admission's connection rather than after the client's default of ten retries with backoff. One
    immediate retry lets a pooled connection that died with a restarted Redis be replaced."""
    if not url:
        return None
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 1),
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
        socket_timeout=REDIS_REPLY_TIMEOUT,
    )


async def close_state(state: AppState) -> None:
    for task in state.tasks:
        task.cancel()
    for task in state.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await state.pipeline.admission.drain()
    if state.pipeline.cache is not None:
        await state.pipeline.cache.close()
    if state.drain is not None:
        await asyncio.to_thread(state.drain.stop)
    await state.router.table.aclose()
    for replica in state.router.table.replicas():
        await replica.backend.aclose()
    await state.http.close()
    if state.billing is not None:
        await state.billing.aclose()
    if state.redis is not None:
        await state.redis.aclose()
    if state.pipe is not None:
        await state.pipe.aclose()
    await state.engine.dispose()
    state.observer.close()
