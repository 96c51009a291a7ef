"""The throughput lane: each gateway process runs batch lines in the background, at the lowest priority.

One loop claims lines (never more than ``max_concurrency`` running here), runs each as a task, and
finishes batches with nothing left to run; another renews the leases of the lines running here.
A line starts on a bounded pool only while the pool leaves ``interactive_share`` of its room free
(an idle pool always takes one; the room is every gateway's when the pool's leases are shared in
Redis), and it waits in the pool's queue behind every interactive request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches import finish, lines
from gateway.batches import repository as batches
from gateway.batches.repository import ClaimedLine
from gateway.config.batches import BatchSettings
from gateway.core.errors import AuthenticationFailed, TollgateError
from gateway.core.throttled_log import ThrottledLog
from gateway.db.models import ApiKey
from gateway.db.models.base import utcnow
from gateway.generation.pipeline import Pipeline
from gateway.keys.principal import Principal
from gateway.keys.store import KeyStore
from gateway.routing.leases import Unshared
from gateway.routing.pool import Pool

log = logging.getLogger("tollgate.batches")

_PRINCIPAL_TTL = 5.0  # seconds a line's key is trusted before it is read again (a revocation stops the lane)
_GATE_PAUSE = 0.05


class BatchLane:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pipeline: Pipeline,
        settings: BatchSettings,
        max_messages: int,
    ) -> None:
        self._sessions = sessions
        self._pipeline = pipeline
        self._settings = settings
        self._lines = lines.Lane(pipeline, sessions, max_messages)
        self.worker = f"{socket.gethostname()[:30]}-{os.getpid()}-{secrets.token_hex(4)}"
        self._running: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._passed: dict[str, int] = {}  # pool -> lines of this lane past its gate, not yet ended
        self._wake = asyncio.Event()
        self._principals: dict[int, tuple[float, Principal]] = {}
        self._trouble = ThrottledLog(log)

    def wake(self) -> None:
        """Look for work now (a batch was created or cancelled here), not at the next poll."""
        self._wake.set()

    async def run_forever(self) -> None:
        try:
            while True:
                try:
                    await finish.finish_ready(self._sessions)
                    await self._claim()
                except Exception as exc:
                    self._trouble.warning("batch lane pass failed (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
                self._wake.clear()
        finally:
            await self._stop_running()

    async def renew_forever(self) -> None:
        """Keep this worker's claims alive; a worker that stops renewing (killed) loses them in a lease."""
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 3)
            if not self._running:
                continue
            try:
                async with self._sessions() as session, session.begin():
                    await batches.renew(session, self.worker, utcnow(), self._settings.lease_seconds)
            except Exception as exc:
                self._trouble.warning("batch lease renewal failed (%s); retrying", exc)

    async def _claim(self) -> None:
        room = self._settings.max_concurrency - len(self._running)
        if room <= 0:
            return
        async with self._sessions() as session, session.begin():
            claimed = await batches.claim(session, self.worker, room, utcnow(), self._settings.lease_seconds)
        for line in claimed:
            key = (line.batch_id, line.line)
            task = asyncio.create_task(self._run(line))
            self._running[key] = task
            task.add_done_callback(functools.partial(self._ended, key))

    def _ended(self, key: tuple[str, int], _task: asyncio.Task[None]) -> None:
        self._running.pop(key, None)
        self._wake.set()

    async def _stop_running(self) -> None:
        """On shutdown: give the lines running here ``shutdown_wait_seconds`` to finish, then cancel the
        rest and hand them back under the same usage id: a cancelled try records nothing, and one
        cancelled after its answer was metered is stored once (the drain keeps the first record)."""
        running = dict(self._running)
        if running:
            await asyncio.wait(running.values(), timeout=self._settings.shutdown_wait_seconds)
        unfinished = [(key, task) for key, task in running.items() if not task.done()]
        for _, task in unfinished:
            task.cancel()
        for (batch_id, line), task in unfinished:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                async with self._sessions() as session, session.begin():
                    await batches.release(session, self.worker, batch_id, line)

    async def _run(self, line: ClaimedLine) -> None:
        try:
            ok, result = await self._execute(line)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must fail the line, not leave it claimed forever
            log.exception("batch %s line %d failed unexpectedly", line.batch_id, line.line)
            request_id = lines.line_request_id(line.batch_id, line.custom_id, line.attempt)
            ok, result = False, lines.failed(line.custom_id, request_id, TollgateError(f"The line failed: {exc}"))
        async with self._sessions() as session, session.begin():
            await batches.finish_line(session, self.worker, line.batch_id, line.line, ok, result)

    async def _execute(self, line: ClaimedLine) -> tuple[bool, str]:
        """Run the line, trying again while it is refused for lack of room; (succeeded, output line).

        A refusal upstream (metered) counts against ``max_attempts``; one by the key's own limits
        (429 before anything was sent) only slows the lane, for up to ``limit_wait_seconds``. Every try
        asks under the line's one usage id, which only its answer is metered under: a try that fails
        upstream is metered under a fresh id of its own, so whenever this worker dies, the answer of
        the line's re-run never meets a no-cost record under its id (the drain would keep that one)."""
        failures = 0
        raw: dict[str, Any] = msgspec.json.decode(line.body)
        give_up = time.monotonic() + self._settings.limit_wait_seconds
        request_id = lines.line_request_id(line.batch_id, line.custom_id, line.attempt)
        while True:
            failure_id = lines.failure_request_id(request_id)
            try:
                principal = await self._principal(line.api_key_id)
                async with self._room_for(line.model):
                    body = await lines.run(self._lines, principal, line.endpoint, raw, request_id, failure_id)
                return True, lines.succeeded(line.custom_id, request_id, body)
            except TollgateError as exc:
                metered = lines.was_metered(exc)
                failures += metered
                spent = failures >= self._settings.max_attempts if metered else time.monotonic() >= give_up
                if not lines.is_retried(exc) or spent:
                    return False, lines.failed(line.custom_id, request_id, exc, failure_id if metered else None)
                await asyncio.sleep(lines.retry_after(exc, self._settings.retry_seconds * max(failures, 1)))

    async def _principal(self, key_id: int) -> Principal:
        """The batch's key as the lane runs it: its priority the lane's, its price the batch price."""
        cached = self._principals.get(key_id)
        now = time.monotonic()
        if cached is None or now - cached[0] > _PRINCIPAL_TTL:
            async with self._sessions() as session:
                key_hash = await session.scalar(select(ApiKey.key_hash).where(ApiKey.id == key_id))
            found = await KeyStore(self._sessions).load(key_hash) if key_hash is not None else None
            if found is None:
                raise AuthenticationFailed("The API key that created this batch no longer exists.")
            cached = self._principals[key_id] = (now, found)
        principal = cached[1]
        principal.check_usable()
        book = self._pipeline.meter.price_book
        return lines.lane_principal(principal, self._settings.priority, book.batch_discount_percent)

    @contextlib.asynccontextmanager
    async def _room_for(self, model: str) -> AsyncIterator[None]:
        """Wait while the model's first pool has less free room than the interactive share keeps; the
        line then counts as on the pool until it ends, as its request may not hold a lease yet (so
        lines that check at once do not all pass on one count). With the pool's leases shared through
        Redis, the count is every gateway's and the check is atomic there; else (or while Redis
        fails) it is this process's."""
        route = self._pipeline.router.table.models.get(model)
        pool = route.chain[0].pool if route is not None and route.chain else None  # unknown: the pipeline refuses
        if pool is None or pool.max_outstanding is None:
            yield
            return
        limit = start_limit(pool.max_outstanding * len(pool.replicas), self._settings.interactive_share)
        token = secrets.token_hex(8)
        # Polled: a pool says when it frees room only to its own queue's first waiter.
        while True:
            shared = await _admit_shared(pool, token, limit)
            if shared or (shared is None and may_start(self._busy_here(pool), limit)):
                break
            await asyncio.sleep(_GATE_PAUSE)
        self._passed[pool.name] = self._passed.get(pool.name, 0) + 1
        try:
            yield
        finally:
            self._passed[pool.name] -= 1
            if shared and pool.shared is not None:
                pool.shared.leases.leave(pool.name, token)

    def _busy_here(self, pool: Pool) -> int:
        """This process's count on ``pool``: its requests there, or its lines past the gate if more."""
        return max(sum(r.outstanding for r in pool.replicas), self._passed.get(pool.name, 0))


async def _admit_shared(pool: Pool, token: str, limit: int) -> bool | None:
    """Whether every gateway's count on ``pool`` admits the line (see SharedLeases.admit); None when
    the pool's leases are not shared or Redis cannot be asked."""
    if pool.shared is None:
        return None
    try:
        return await pool.shared.leases.admit(pool.name, [r.key for r in pool.replicas], token, limit)
    except Unshared:
        return None


def start_limit(capacity: int, interactive_share: float) -> int:
    """How many requests a pool of ``capacity`` may have before a batch line waits: the room less the
    ``interactive_share`` kept free for interactive requests."""
    return math.floor(capacity * (1 - interactive_share))


def may_start(busy: int, limit: int) -> bool:
    """Whether a batch line may join ``busy`` requests on a pool: below the limit, or the pool is idle
    (``admit.lua`` says the same for every gateway's count)."""
    return busy == 0 or busy < limit
