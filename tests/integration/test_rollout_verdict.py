"""One verdict per staged rollout for every gateway: two gateways' routing tables, each with its own
counts, add them to one Redis and judge on one Postgres. Every transition happens once, with its
audit record, whichever gateway reaches it; a gateway started later routes by it; an admin's rollback
through ``tollgate rollout rollback`` reaches both, within the window kept after a promotion."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backends.base import BackendContext
from backends.http import build_client
from gateway.db.models import Feedback
from gateway.metrics import Metrics
from gateway.routing.rollout import Canary
from gateway.routing.rollout_store import RolloutStore
from gateway.routing.rollouts import Rollouts, build_rollouts
from gateway.routing.table import RoutingTable
from gateway.settings import Settings
from gateway.tokens import Tokenizer
from tests.support.databases import migrated_database, open_sessions

REDIS = "redis://127.0.0.1:6379/0"
START = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def raw_config(database: str, **rollout: Any) -> dict[str, Any]:
    staged = {"backend": "cand", "model": "x", "stages": [10, 50, 100], "stage_minutes": 1, "min_requests": 8}
    return {
        "backends": {"stable": {"type": "simulator"}, "cand": {"type": "simulator"}},
        "models": [{"name": "m", "deployments": [{"backend": "stable", "model": "x"}], "rollout": staged | rollout}],
        "database_url": database,
    }


class Clock:
    def __init__(self) -> None:
        self.at = START

    def __call__(self) -> dt.datetime:
        return self.at

    def skip(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


class Gateway:
    """What one gateway process holds of the rollouts: its routing table and its rollouts' follower."""

    def __init__(self, table: RoutingTable, rollouts: Rollouts) -> None:
        self.table, self.rollouts = table, rollouts

    @property
    def canary(self) -> Canary:
        canary = self.table.models["m"].canary
        assert canary is not None
        return canary

    def serve(self, candidate: int, stable: int, *, failing: int = 0) -> None:
        for n in range(candidate):
            self.canary.record(on_canary=True, ok=n >= failing, seconds=0.05)
        for _ in range(stable):
            self.canary.record(on_canary=False, ok=True, seconds=0.05)


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[tuple[str, async_sessionmaker[AsyncSession]]]:
    async with migrated_database("postgres", tmp_path) as url, open_sessions(url) as factory:
        yield url, factory


@asynccontextmanager
async def deployment(
    url: str, clock: Clock, count: int = 2, tallies: str = "redis", **rollout: Any
) -> AsyncIterator[list[Gateway]]:
    """``tallies``: where the gateways add their counts, "redis" or (without Redis) "database"."""
    settings = msgspec.convert(raw_config(url, **rollout), Settings)
    namespace = f"tollgate-test-{uuid.uuid4().hex[:8]}"
    async with AsyncExitStack() as stack:
        http = build_client()
        stack.push_async_callback(http.close)
        gateways = []
        for _ in range(count):
            redis = Redis.from_url(REDIS) if tallies == "redis" else None
            if redis is not None:
                stack.push_async_callback(redis.aclose)
            factory = await stack.enter_async_context(open_sessions(url))
            rollouts = build_rollouts(factory, redis, namespace, Metrics())
            rollouts._now = clock  # the judge's clock: stages last minutes
            table = RoutingTable(settings, BackendContext(http, Tokenizer()), time.monotonic, None)
            gateways.append(Gateway(table, rollouts))
        yield gateways


async def tick_together(gateways: list[Gateway]) -> None:
    await asyncio.gather(*(g.rollouts.tick(g.table) for g in gateways))


@pytest.mark.parametrize("tallies", ["redis", "database"])
async def test_a_rollout_moves_up_its_stages_once_on_both_gateways_counts_and_outlives_a_restart(
    sessions: tuple[str, async_sessionmaker[AsyncSession]], tallies: str
) -> None:
    url, factory = sessions
    clock = Clock()
    async with deployment(url, clock, tallies=tallies) as (first, second):
        await tick_together([first, second])
        assert first.canary.share == second.canary.share == 0.1
        # Each gateway alone saw fewer than min_requests (8) on each side: only together do they count.
        first.serve(candidate=5, stable=5)
        second.serve(candidate=4, stable=4)
        clock.skip(30)
        await tick_together([first, second])
        await tick_together([first, second])  # the counts are in; the stage has not run a minute yet
        assert first.canary.stage == second.canary.stage == 0
        clock.skip(31)
        await tick_together([first, second])
        assert (first.canary.state, first.canary.share) == (second.canary.state, second.canary.share) == ("active", 0.5)
        # The new stage is judged on its own requests only.
        first.serve(candidate=8, stable=8)
        clock.skip(61)
        await tick_together([first, second])
        await tick_together([first, second])
        assert (
            (first.canary.state, first.canary.share) == (second.canary.state, second.canary.share) == ("promoted", 1.0)
        )

    events = await RolloutStore(factory).events("m")
    assert [(e.action, e.to_share, e.actor) for e in reversed(events)] == [
        ("started", 0.1, "config"),
        ("advanced", 0.5, "judge"),
        ("promoted", 1.0, "judge"),
    ]
    assert events[0].reason is not None and events[0].reason.startswith("automatic: held 50% for 1.0 min")
    state = await RolloutStore(factory).get("m")
    assert state is not None and state.previous_until == clock.at + dt.timedelta(hours=24)

    async with deployment(url, clock, count=1, tallies=tallies) as (restarted,):
        assert restarted.canary.share == 0.1  # before it has read the shared state
        await restarted.rollouts.tick(restarted.table)
        assert (restarted.canary.state, restarted.canary.share) == ("promoted", 1.0)


async def test_errors_seen_on_two_gateways_roll_back_once(
    sessions: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    url, factory = sessions
    clock = Clock()
    async with deployment(url, clock) as (first, second):
        await tick_together([first, second])
        first.serve(candidate=5, stable=10, failing=3)
        second.serve(candidate=5, stable=10, failing=2)
        await tick_together([first, second])
        await tick_together([first, second])
        assert (first.canary.state, second.canary.share) == ("rolled_back", 0.0)
        assert (
            first.canary.reason
            == second.canary.reason
            == ("automatic: error rate 50.0% against 0.0% on the stable deployment")
        )
    assert [e.action for e in await RolloutStore(factory).events("m")] == ["rolled_back", "started"]


async def test_a_candidate_scored_lower_by_customers_rolls_back_on_accuracy(
    sessions: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    url, factory = sessions
    clock = Clock()
    async with deployment(url, clock, min_feedback=3) as (first, second):
        await tick_together([first, second])
        async with factory.begin() as session:
            given = [("cand", 0.2), ("cand", 0.3), ("cand", 0.25), ("stable", 0.9), ("stable", 0.95), ("stable", 0.85)]
            session.add_all(
                Feedback(response_id=f"r{n}", customer_id=1, model="m", deployment=d, created_at=START, score=s)
                for n, (d, s) in enumerate(given)
            )
        await tick_together([first, second])
        assert (first.canary.state, second.canary.state) == ("rolled_back", "rolled_back")
        assert first.canary.reason == "automatic: mean accuracy score 0.250 against 0.900 on the stable deployment"
    assert [e.action for e in await RolloutStore(factory).events("m")] == ["rolled_back", "started"]


def cli_rollback(
    tmp_path: Path, url: str, action: str = "rollback", **rollout: Any
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump(raw_config(url, **rollout)))
    command = [sys.executable, "-m", "gateway", "rollout", action, "m", "--config", str(path)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


async def test_the_cli_restores_the_previous_version_within_the_window_on_every_gateway(
    sessions: tuple[str, async_sessionmaker[AsyncSession]], tmp_path: Path
) -> None:
    url, factory = sessions
    clock = Clock()
    clock.at = dt.datetime.now(dt.UTC)  # the CLI judges the window by the real time
    async with deployment(url, clock, stages=[50, 100], stage_minutes=0) as (first, second):
        await tick_together([first, second])
        first.serve(candidate=8, stable=8)
        await tick_together([first, second])
        await tick_together([first, second])
        assert first.canary.state == second.canary.state == "promoted"

        done = cli_rollback(tmp_path, url, stages=[50, 100], stage_minutes=0)
        assert done.returncode == 0, done.stderr
        assert "m: rolled_back (rolled back by cli: previous version restored)" in done.stdout
        await tick_together([first, second])
        assert (
            (first.canary.state, first.canary.share)
            == (second.canary.state, second.canary.share)
            == ("rolled_back", 0.0)
        )

        again = cli_rollback(tmp_path, url, stages=[50, 100], stage_minutes=0)
        assert again.returncode == 1 and "already rolled back" in again.stderr
        history = cli_rollback(tmp_path, url, "history", stages=[50, 100], stage_minutes=0)
        assert [line.split()[2] for line in history.stdout.splitlines()[1:]] == ["rolled_back", "promoted", "started"]
        assert "rolled back by cli: previous version restored" in history.stdout
    assert [(e.action, e.actor) for e in await RolloutStore(factory).events("m")][:2] == [
        ("rolled_back", "cli"),
        ("promoted", "judge"),
    ]


async def test_after_the_window_the_previous_version_is_no_longer_restored(
    sessions: tuple[str, async_sessionmaker[AsyncSession]], tmp_path: Path
) -> None:
    url, _ = sessions
    clock = Clock()
    clock.at = dt.datetime.now(dt.UTC)
    window = {"stages": [50, 100], "stage_minutes": 0, "keep_previous_hours": 0}
    async with deployment(url, clock, count=1, **window) as (gateway,):
        await gateway.rollouts.tick(gateway.table)
        gateway.serve(candidate=8, stable=8)
        await gateway.rollouts.tick(gateway.table)
        await gateway.rollouts.tick(gateway.table)
        assert gateway.canary.state == "promoted"
        done = cli_rollback(tmp_path, url, **window)
        assert done.returncode == 1
        assert "it can no longer be restored in one step" in done.stderr
        await gateway.rollouts.tick(gateway.table)
        assert gateway.canary.state == "promoted"


async def test_a_new_config_starts_the_rollout_afresh_once_and_gateways_still_on_the_old_one_follow_it(
    sessions: tuple[str, async_sessionmaker[AsyncSession]],
) -> None:
    url, factory = sessions
    clock = Clock()
    async with deployment(url, clock, count=1) as (old,):
        clock.at = dt.datetime.now(dt.UTC)  # configs are ordered by when gateways took them up: real time
        await old.rollouts.tick(old.table)
        async with deployment(url, clock, count=1, stages=[20, 100]) as (new,):  # a deploy midway
            clock.at = dt.datetime.now(dt.UTC)
            for _ in range(3):
                await tick_together([old, new])
            assert (new.canary.share, old.canary.share) == (0.2, 0.2)
            old.serve(candidate=20, stable=20, failing=20)  # another rollout's outcomes: not judged
            await tick_together([old, new])
            assert old.canary.state == new.canary.state == "active"
    events = await RolloutStore(factory).events("m")
    assert [(e.action, e.to_share) for e in events] == [("started", 0.2), ("started", 0.1)]
    assert events[0].reason == "the rollout config changed"
