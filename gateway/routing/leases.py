"""A pool's ``max_outstanding`` and queue bound, held across every gateway replica: leases in Redis.

Each request sent to a replica of a bounded pool holds a lease, one member of the replica's sorted
set in Redis (``take.lua``), and gives it back when it ends however it ends: answer, error or
cancellation (``release.lua``, sent without waiting, with the next commands on the pipelined
connection). A lease carries an expiry that its gateway pushes back while the request runs
(``renew.lua``, every third of ``lease_seconds``), so the leases of a gateway that died are free
again ``lease_seconds`` later at most.

When every replica is full, the request joins the pool's queue, one sorted set shared by every
gateway (waiter id -> deadline, so a dead gateway's waiters leave it too): its length is the bound
``queue_size``. A request that finds it full, or that has waited ``max_queue_wait``, gets the same
503 as the in-process queue. A newcomer never passes those already queued. The waiters of one
gateway try again in priority, then arrival order when a lease of the pool is given back there,
when another gateway announces one (``release.lua`` publishes when someone waits), and every
``poll_seconds`` in case a message was lost. Order across gateways is first come, first served.

Batch lines pass the pool's gate (``admit.lua``) before they ask for a lease: one more sorted set,
checked and counted in one step against every gateway's leases and lines, renewed as leases are.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

from redis.exceptions import RedisError

from gateway.core.background import Background
from gateway.core.redis_pipe import RedisPipe, Script
from gateway.core.throttled_log import ThrottledLog
from gateway.routing.queue import refusal

log = logging.getLogger("tollgate.routing")


def _release_failed(error: BaseException) -> None:
    log.debug("a pool lease could not be given back (it expires): %s", error)


def _script(name: str) -> Script:
    return Script.of(resources.files("gateway.routing").joinpath(name).read_text())


_TAKE, _RELEASE, _RENEW = _script("take.lua"), _script("release.lua"), _script("renew.lua")
_ADMIT = _script("admit.lua")


class Unshared(Exception):
    """Redis could not be asked: the pool falls back to this gateway's own bound."""


@dataclass(frozen=True, slots=True)
class Bounds:
    pool: str
    max_outstanding: int
    queue_size: int
    max_wait: float


@dataclass(frozen=True, slots=True)
class Grant:
    index: int  # of the replica among the candidates
    lease_id: str


@dataclass(order=True)
class _Waiter:
    priority: int
    order: int
    id: str = field(compare=False)
    woken: asyncio.Event = field(compare=False, default_factory=asyncio.Event)


class _Line:
    """This gateway's requests waiting for one pool: priority tier (lower first), then arrival."""

    def __init__(self) -> None:
        self._heap: list[_Waiter] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def join(self, priority: int, waiter_id: str) -> _Waiter:
        waiter = _Waiter(priority, next(self._order), waiter_id)
        heapq.heappush(self._heap, waiter)
        return waiter

    def leave(self, waiter: _Waiter) -> None:
        if waiter in self._heap:
            self._heap.remove(waiter)
            heapq.heapify(self._heap)
            if waiter.woken.is_set():  # it was woken for room it will not use: the next one goes
                self.wake()

    def first(self) -> _Waiter | None:
        return self._heap[0] if self._heap else None

    def wake(self) -> None:
        if self._heap:
            self._heap[0].woken.set()


class SharedLeases:
    def __init__(
        self,
        pipe: RedisPipe,
        namespace: str,
        channel: str,
        freed_message: Callable[[str], str],
        *,
        lease_seconds: float,
        poll_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pipe = pipe
        self._ns = f"{namespace}:pool:"
        self._channel = channel
        self._freed_message = freed_message
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._poll = poll_seconds
        self._lines: dict[str, _Line] = {}
        self._held: dict[str, set[str]] = {}  # lease key -> ids this gateway holds there
        self._background = Background(_release_failed)
        self._down = False  # whether the last call failed (logged once, not per request)
        self._renew_warnings = ThrottledLog(log, clock=clock)  # every pass, per key, while Redis is down

    def _queue_key(self, pool: str) -> str:
        return f"{self._ns}{pool}:queue"

    def _lease_key(self, pool: str, replica: str) -> str:
        return f"{self._ns}{pool}:leases:{replica}"

    def _gate_key(self, pool: str) -> str:
        return f"{self._ns}{pool}:gate"

    async def take(self, bounds: Bounds, candidates: Callable[[], list[str]], priority: int) -> Grant:
        """A lease on one of ``candidates()`` (replica keys, preferred first), waiting in the pool's
        queue while all are full. Raises Overloaded (queue full, or waited out), or Unshared."""
        lease_id = secrets.token_hex(8)
        code, index, _ = await self._try(bounds, candidates(), lease_id, queued=False)
        if code == 1:
            return Grant(index, lease_id)
        if code == -1:
            raise refusal(bounds.pool, f"its queue is full ({bounds.queue_size} requests wait)", bounds.max_wait)
        return await self._wait(bounds, candidates, priority, lease_id)

    async def _wait(self, bounds: Bounds, candidates: Callable[[], list[str]], priority: int, lease_id: str) -> Grant:
        line = self._lines.setdefault(bounds.pool, _Line())
        waiter = line.join(priority, lease_id)
        grant: Grant | None = None
        try:
            async with asyncio.timeout(bounds.max_wait):
                while grant is None:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._poll):
                            await waiter.woken.wait()
                    if not waiter.woken.is_set() and line.first() is not waiter:
                        continue  # only the first waiter polls
                    waiter.woken.clear()
                    code, index, room = await self._try(bounds, candidates(), lease_id, queued=True)
                    if code == 1:
                        grant = Grant(index, lease_id)
            line.leave(waiter)
            if room > 0:  # more than this one request's room was freed
                line.wake()
            return grant
        except TimeoutError:
            why = f"the request waited {bounds.max_wait:g} s for a free replica"
            raise refusal(bounds.pool, why, bounds.max_wait) from None
        finally:
            line.leave(waiter)
            if grant is None:  # out of the shared queue too
                self._background.spawn(self._pipe.run(_RELEASE, [self._queue_key(bounds.pool)], [lease_id, "", ""]))

    async def _try(self, bounds: Bounds, replicas: list[str], lease_id: str, *, queued: bool) -> tuple[int, int, int]:
        keys = [self._queue_key(bounds.pool), *(self._lease_key(bounds.pool, r) for r in replicas)]
        args = [bounds.max_outstanding, self._lease_ms, lease_id, lease_id, int(queued), bounds.queue_size]
        args.append(max(1, round(bounds.max_wait * 1000)))
        try:
            result = await self._pipe.run(_TAKE, keys, args)
        except BaseException as exc:
            # Cancelled (the client left) or failed after the script may have run: undo what it did.
            self._background.spawn(self._pipe.run(_RELEASE, keys, [lease_id, "", ""]))
            if isinstance(exc, RedisError | OSError):
                if not self._down:
                    log.warning("pools are bounded by each gateway alone while Redis fails: %s", exc)
                self._down = True
                raise Unshared(str(exc)) from exc
            raise
        if self._down:
            log.warning("pools are bounded across gateways again: Redis answers")
            self._down = False
        code = int(result[0])
        if code != 1:
            return code, 0, 0
        index = int(result[1])
        self._held.setdefault(keys[1 + index], set()).add(lease_id)
        return code, index, int(result[2])

    def give_back(self, pool: str, replica: str, lease_id: str) -> None:
        """The request ended: its lease goes back, without waiting for Redis, and a waiter here wakes."""
        key = self._lease_key(pool, replica)
        self._held.get(key, set()).discard(lease_id)
        args = [lease_id, self._channel, self._freed_message(pool)]
        self._background.spawn(self._pipe.run(_RELEASE, [self._queue_key(pool), key], args, hold=True))
        self.freed(pool)

    async def admit(self, pool: str, replicas: list[str], token: str, limit: int) -> bool:
        """Whether a background line (``token``) may start on ``pool`` while every gateway's requests and
        lines there stay below ``limit`` (an idle pool always takes one): checked and counted in one
        step, so that lines of two gateways never both pass on one count. An admitted line counts until
        ``leave``. Raises Unshared when Redis fails."""
        keys = [self._gate_key(pool), *(self._lease_key(pool, r) for r in replicas)]
        try:
            admitted = int(await self._pipe.run(_ADMIT, keys, [limit, self._lease_ms, token])) == 1
        except BaseException as exc:
            self._background.spawn(self._pipe.run(_RELEASE, keys[:1], [token, "", ""]))  # it may have counted
            if isinstance(exc, RedisError | OSError):
                raise Unshared(str(exc)) from exc
            raise
        if admitted:
            self._held.setdefault(keys[0], set()).add(token)  # renewed with the leases while it runs
        return admitted

    def leave(self, pool: str, token: str) -> None:
        """The admitted line ended: it stops counting, without waiting for Redis."""
        key = self._gate_key(pool)
        self._held.get(key, set()).discard(token)
        self._background.spawn(self._pipe.run(_RELEASE, [key], [token, "", ""], hold=True))

    def waiting(self, pool: str) -> int:
        """This gateway's requests queued for ``pool`` (the deployment's queue is every gateway's sum)."""
        line = self._lines.get(pool)
        return 0 if line is None else len(line)

    def freed(self, pool: str) -> None:
        """A lease of ``pool`` was given back (here or on another gateway): the first waiter tries."""
        line = self._lines.get(pool)
        if line is not None:
            line.wake()

    async def renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            for key, ids in list(self._held.items()):
                if not ids:
                    del self._held[key]
                    continue
                try:
                    await self._pipe.run(_RENEW, [key], [self._lease_ms, *ids])
                except Exception as exc:
                    self._renew_warnings.warning("could not renew the pool leases of %s: %s", key, exc)
