"""The semantic index of this replica, kept in step with every other replica through a Redis stream.

Why a stream and a per-replica index (numbers in docs/cache.md): Debian's Redis 7 has no vector
search and the database has no pgvector, while an in-memory brute-force search over 100,000
entries of one scope takes milliseconds. So each replica keeps its own
:class:`~gateway.cache.matcher.SemanticMatcher`; a replica that stores an answer remembers it at
and appends ``(scope, entry id, last user turn)`` to a capped stream, which every other
replica tails with a blocking ``XREAD`` (a new entry reaches them within a round trip plus one
embedding). A replica that starts reads the newest ``backfill`` stream entries back first.

The matcher is not thread-safe and embedding takes milliseconds of CPU, so every matcher call runs
on one worker thread (onnxruntime releases the GIL): the event loop never waits on an embedding.
With a served embedder (``embed``: an embeddings model called through the router) the vectors are
awaited on the loop first, so concurrent lookups' calls reach the model's micro-batcher together
instead of one at a time from the worker thread.
An index row whose entry expired or was purged is forgotten when a lookup finds it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from redis.exceptions import RedisError

from gateway.cache.matcher import SemanticMatcher
from gateway.core.throttled_log import ThrottledLog

log = logging.getLogger("tollgate.cache")

STREAM_MAXLEN = 200_000
# Texts -> their unit vectors, one row each, awaited on the event loop (ServedEmbedder.embed_many_async).
EmbedOnLoop = Callable[[list[str]], Awaitable[npt.NDArray[np.float32]]]
_READ_BLOCK_MS = 1000
_READ_COUNT = 500


class SemanticSync:
    def __init__(
        self,
        matcher: SemanticMatcher,
        redis: Any | None,
        namespace: str,
        backfill: int,
        embed: EmbedOnLoop | None = None,
    ) -> None:
        self._matcher = matcher
        self._embed = embed
        self._redis: Any = redis  # None: one process, nothing to share
        self._stream = f"{namespace}:cache:semantic"
        self._backfill = backfill
        self._origin = secrets.token_hex(8).encode()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tollgate-semantic")
        self._warnings = ThrottledLog(log)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    async def match(
        self, scope: str, text: str, threshold: float | None, *, cross_encoder: bool = True, accept: float | None = None
    ) -> tuple[str, float] | None:
        vector = None
        if self._embed is not None:
            if not await self._run(self._matcher.index.size, scope):
                return None  # no call to the embeddings model for an empty scope
            vector = (await self._embed([text]))[0]
        call = functools.partial(self._matcher.match, cross_encoder=cross_encoder, accept=accept, vector=vector)
        found: tuple[str, float] | None = await self._run(call, scope, text, threshold)
        return found

    async def question(self, scope: str, entry_id: str) -> str | None:
        found: str | None = await self._run(self._matcher.question, scope, entry_id)
        return found

    async def forget(self, scope: str, entry_id: str) -> None:
        await self._run(self._matcher.forget, scope, entry_id)

    async def remember(self, scope: str, entry_id: str, text: str) -> None:
        """Tell the other replicas (first: they embed it in parallel with us), then index it here."""
        if self._redis is not None:
            fields = {"o": self._origin, "s": scope, "e": entry_id, "t": text}
            await self._redis.xadd(self._stream, fields, maxlen=STREAM_MAXLEN, approximate=True)
        vector = None if self._embed is None else (await self._embed([text]))[0]
        await self._run(self._matcher.remember, scope, entry_id, text, vector)

    async def follow(self) -> None:
        """Tail the stream for ever (a lifespan task); Redis outages are logged and retried."""
        if self._redis is None:
            return
        last = await self._retrying(self._read_back)
        while True:
            last = await self._retrying(self._read_new, last)

    async def _retrying(self, step: Any, *args: Any) -> bytes:
        while True:
            try:
                result: bytes = await step(*args)
                return result
            except (RedisError, OSError) as exc:
                self._warnings.warning("semantic cache sync: Redis unreachable (%s); retrying every second", exc)
            await asyncio.sleep(1.0)

    async def _read_back(self) -> bytes:
        """Index the newest ``backfill`` entries; returns the id to tail from."""
        newest = await self._redis.xrevrange(self._stream, count=max(self._backfill, 1))
        if not newest:
            return b"0-0"
        if self._backfill:
            await self._apply(list(reversed(newest)))
        last: bytes = newest[0][0]
        return last

    async def _read_new(self, after: bytes) -> bytes:
        answer = await self._redis.xread({self._stream: after}, count=_READ_COUNT, block=_READ_BLOCK_MS)
        if not answer:
            return after
        entries = answer[0][1]
        await self._apply(entries)
        last: bytes = entries[-1][0]
        return last

    async def _apply(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        rows = [
            (f[b"s"].decode(), f[b"e"].decode(), f[b"t"].decode())
            for _, f in entries
            if f.get(b"o") != self._origin and b"t" in f
        ]
        if rows:
            vectors = None if self._embed is None else await self._embed([text for _, _, text in rows])
            await self._run(self._remember_all, rows, vectors)

    def _remember_all(self, rows: list[tuple[str, str, str]], vectors: npt.NDArray[np.float32] | None) -> None:
        for n, (scope, entry_id, text) in enumerate(rows):
            self._matcher.remember(scope, entry_id, text, None if vectors is None else vectors[n])

    def close(self) -> None:
        self._worker.shutdown(wait=False, cancel_futures=True)
