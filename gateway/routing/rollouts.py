"""One verdict per rollout for the whole deployment, reached by whichever gateway sees it first.

Every gateway, every ``routing.rollout_interval`` seconds, for each model with a rollout:

1. adds the outcomes it saw since last time to the shared tallies (Redis, else the database),
   under the version of the rollout's state it routed by;
2. reads the rollout's state from the database (``rollout_states``) and routes by it: its stage's
   share, or none once rolled back, or all once promoted. A restarted gateway reads it at start-up;
3. while the rollout is active, judges it on everyone's tallies and the accuracy feedback
   (gateway/routing/rollout.py's :func:`verdict`) and, when a transition is due, makes it with a
   compare-and-set on the state's version: one gateway's update wins, with its audit record; the
   others' change nothing, and they follow on their next pass.

Admins move rollouts through :mod:`gateway.routing.rollout_actions`, on the same rows.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.throttled_log import ThrottledLog
from gateway.db.models import RolloutState
from gateway.db.models.base import utcnow
from gateway.feedback.repository import FeedbackRepository, ScoreSum
from gateway.metrics import Metrics
from gateway.routing.rollout import CANDIDATE, STABLE, Canary, Evidence, Scores, verdict
from gateway.routing.rollout_store import RolloutStore, Transition
from gateway.routing.table import ModelRoute, RoutingTable
from gateway.routing.tallies import DatabaseTallies, RedisTallies, Tallies, summarise

log = logging.getLogger("tollgate.rollout")


def config_of(canary: Canary) -> str:
    return msgspec.json.encode(canary.rollout).decode()


def follow(canary: Canary, found: RolloutState) -> None:
    canary.adopt(found.state, found.share, found.reason, version=found.version, stage=found.stage)


class Rollouts:
    def __init__(
        self,
        store: RolloutStore,
        tallies: Tallies,
        feedback: FeedbackRepository,
        metrics: Metrics,
        now: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.store = store
        self._tallies = tallies
        self._feedback = feedback
        self._metrics = metrics
        self._now = now
        self._trouble = ThrottledLog(log)

    async def run_forever(self, table: Callable[[], RoutingTable], interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.tick(table())
            except (SQLAlchemyError, RedisError, OSError) as exc:
                # The gateway keeps routing by the state it last read; its counts wait for the next pass.
                self._trouble.warning("rollouts not shared or judged: %s", exc)

    async def tick(self, table: RoutingTable) -> None:
        """One pass over every rollout: share, follow, judge."""
        for route in table.models.values():
            if route.canary is not None:
                await self._pass(route, route.canary)

    async def _pass(self, route: ModelRoute, canary: Canary) -> None:
        found = await self._current(canary)
        if found.config != config_of(canary):  # a newer config's rollout: follow it, judge nothing
            canary.take_unshared()
            follow(canary, found)
            return
        counts = canary.take_unshared()
        try:
            await self._tallies.add(canary.model, canary.version or found.version, counts)
        except BaseException:
            canary.give_back(counts)
            raise
        follow(canary, found)
        if found.state != "active":
            return
        move = verdict(canary.rollout, found.stage, await self._evidence(route, canary, found))
        if move is None:
            return
        until = (
            self._now() + dt.timedelta(hours=canary.rollout.keep_previous_hours) if move.state == "promoted" else None
        )
        to = Transition(move.action, move.state, move.stage, move.share, "judge", move.reason, until)
        if await self.store.transition(found, to, self._now()):
            log.warning("rollout %s of model %s %s: %s", canary.rollout.backend, canary.model, move.action, move.reason)
            if move.action == "rolled_back":
                self._metrics.routing_rollbacks.labels(canary.model).inc()
        after = await self.store.get(canary.model)
        if after is not None:
            follow(canary, after)

    async def _current(self, canary: Canary) -> RolloutState:
        """The shared state of the model's rollout; started if need be, and started again for a config
        taken up after the stored rollout started (a reload, a deploy). A gateway still on an older
        config leaves the newer rollout alone: a deploy midway does not flap between the two."""
        config, now = config_of(canary), self._now()
        found = await self.store.get(canary.model)
        if found is None:
            await self.store.start(canary.model, config, canary.rollout.backend, canary.rollout.shares()[0], now)
        elif found.config != config and canary.taken_up > found.started_at:
            await self.store.restart(found, config, canary.rollout.backend, canary.rollout.shares()[0], now)
        else:
            return found
        started = await self.store.get(canary.model)
        assert started is not None  # started here, or by the gateway that won the race
        return started

    async def _evidence(self, route: ModelRoute, canary: Canary, found: RolloutState) -> Evidence:
        counts = await self._tallies.read(canary.model, found.version)
        scores = await self._feedback.by_deployment(canary.model, found.started_at)
        candidate = canary.rollout.backend
        stable = ScoreSum(0, 0.0)
        for deployment in {t.pool.name for t in route.chain} - {candidate}:
            got = scores.get(deployment, ScoreSum(0, 0.0))
            stable = ScoreSum(stable.count + got.count, stable.total + got.total)
        ours = scores.get(candidate, ScoreSum(0, 0.0))
        return Evidence(
            candidate=summarise(counts.get(CANDIDATE, collections.Counter())),
            stable=summarise(counts.get(STABLE, collections.Counter())),
            candidate_scores=Scores(ours.count, ours.mean),
            stable_scores=Scores(stable.count, stable.mean),
            stage_seconds=(self._now() - found.stage_started_at).total_seconds(),
        )


def build_rollouts(
    sessions: async_sessionmaker[AsyncSession], redis: Any | None, namespace: str, metrics: Metrics
) -> Rollouts:
    """Tallies in Redis when it is configured (one store for every gateway), in the database otherwise."""
    tallies: Tallies = RedisTallies(redis, namespace) if redis is not None else DatabaseTallies(sessions)
    return Rollouts(RolloutStore(sessions), tallies, FeedbackRepository(sessions), metrics)
