"""Single-flight (gateway/cache/flights.py): identical requests in flight at the same time make one
upstream call; the followers are served the leader's answer as cache hits, whole or streamed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from gateway.cache.service import CACHE_DEPLOYMENT, ResponseCache
from gateway.cache.store import MemoryEntries
from gateway.core.errors import UpstreamStatusError
from gateway.generation.pipeline import Completed
from gateway.keys.principal import Principal
from gateway.metrics import Metrics
from gateway.settings import ModelCache
from tests.unit.pipeline_kit import FakeBackend, Kit, build, chunk, usage_chunk

# No limits: the requests are not admitted one at a time.
ACME = Principal(key_id=3, key_hash="h", customer_id=5, customer_name="acme")


def cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, backend: FakeBackend) -> Kit:
    kit = build(monkeypatch, tmp_path, backend)
    # The kit's requests set no temperature: let the model cache them anyway.
    models = {"m": ModelCache(nondeterministic=True)}
    kit.pipeline.cache = ResponseCache(models, MemoryEntries(100), None, Metrics(), max_ttl_seconds=60)
    return kit


async def until(predicate: Any) -> None:
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


async def test_identical_requests_in_flight_make_one_call_and_the_followers_are_hits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hold = asyncio.Event()
    kit = cached(monkeypatch, tmp_path, FakeBackend(hold=hold))
    asks = [kit.pipeline.complete(ACME, kit.call(request_id=f"req_{n}")) for n in range(3)]
    tasks = [asyncio.ensure_future(ask) for ask in asks]
    await until(lambda: len(kit.backend.sent) == 1)
    await asyncio.sleep(0.02)
    hold.set()
    leader, *followers = await asyncio.gather(*tasks)
    assert len(kit.backend.sent) == 1
    assert leader.deployment == "sim" and leader.headers.get("x-tollgate-cache") is None
    for follower in followers:
        assert isinstance(follower, Completed) and follower.deployment == CACHE_DEPLOYMENT
        assert follower.headers["x-tollgate-cache"] == "hit"
        assert follower.body["choices"] == leader.body["choices"]
        assert follower.body["id"] != leader.body["id"]
    assert [r.cache_status for r in kit.records] == ["miss", "hit", "hit"]


async def test_a_streamed_leader_is_replayed_live_to_streamed_followers_and_whole_to_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hold = asyncio.Event()  # the upstream sends its first chunk, then waits
    chunks = [chunk("Hello"), chunk(" there", "stop"), usage_chunk()]
    kit = cached(monkeypatch, tmp_path, FakeBackend(chunks=chunks, hold=hold))
    leading = await kit.pipeline.stream(ACME, kit.call(stream=True, request_id="lead"))
    whole = asyncio.ensure_future(kit.pipeline.complete(ACME, kit.call(request_id="whole")))
    following = await kit.pipeline.stream(ACME, kit.call(stream=True, request_id="streamed"))
    assert following.headers["x-tollgate-cache"] == "hit" and following.deployment == CACHE_DEPLOYMENT
    replayed = aiter(following.relay)
    first = await asyncio.wait_for(anext(replayed), 1)  # before the leader's stream has ended
    assert _contents(first) == ["Hello"] and b"chatcmpl-streamed" in first
    assert not whole.done()  # a whole answer waits for the whole stream
    hold.set()
    lead_events = b"".join([event async for event in leading.relay])
    rest = b"".join([event async for event in replayed])
    assert "".join(_contents(first + rest)) == "".join(_contents(lead_events)) == "Hello there"
    assert rest.endswith(b"data: [DONE]\n\n")
    usage = [json.loads(line[6:]) for line in rest.decode().splitlines() if '"usage"' in line][-1]["usage"]
    assert usage["prompt_tokens"] == 1000 and "cost" in usage  # its own hit price
    answer = await whole
    assert answer.headers["x-tollgate-cache"] == "hit"
    assert answer.body["choices"][0]["message"]["content"] == "Hello there"
    assert len(kit.backend.sent) == 1
    assert sorted(r.cache_status for r in kit.records) == ["hit", "hit", "miss"]


def _contents(events: bytes) -> list[str]:
    out = []
    for line in events.decode().splitlines():
        if line.startswith("data: {"):
            for choice in json.loads(line[6:]).get("choices") or ():
                out.append(choice["delta"].get("content") or "")
    return out


async def test_when_the_leader_fails_each_follower_goes_upstream_itself(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hold = asyncio.Event()
    error = UpstreamStatusError("bad gateway", upstream_status=400)
    kit = cached(monkeypatch, tmp_path, FakeBackend(hold=hold, error=error))
    tasks = [asyncio.ensure_future(kit.pipeline.complete(ACME, kit.call(request_id=f"r{n}"))) for n in range(3)]
    await until(lambda: len(kit.backend.sent) == 1)
    hold.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, UpstreamStatusError) for r in results)
    assert len(kit.backend.sent) == 3


async def test_a_leader_whose_client_leaves_releases_its_followers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hold = asyncio.Event()
    kit = cached(monkeypatch, tmp_path, FakeBackend(hold=hold))
    leader = asyncio.ensure_future(kit.pipeline.complete(ACME, kit.call(request_id="leaves")))
    await until(lambda: len(kit.backend.sent) == 1)
    follower = asyncio.ensure_future(kit.pipeline.complete(ACME, kit.call(request_id="stays")))
    await asyncio.sleep(0.02)
    leader.cancel()
    await until(lambda: len(kit.backend.sent) == 2)  # the follower went upstream itself
    hold.set()
    answer = await follower
    assert answer.deployment == "sim"


async def test_a_leader_cut_off_mid_stream_ends_its_live_followers_with_an_error_at_no_cost(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    error = UpstreamStatusError("upstream fell over", upstream_status=500)
    chunks = [chunk("Hello"), chunk(" there", "stop"), usage_chunk()]
    kit = cached(monkeypatch, tmp_path, FakeBackend(chunks=chunks, error=error, fail_after=1))
    leading = await kit.pipeline.stream(ACME, kit.call(stream=True, request_id="lead"))
    following = await kit.pipeline.stream(ACME, kit.call(stream=True, request_id="streamed"))
    await aclosing_all(leading.relay)
    events = b"".join([event async for event in following.relay])
    assert _contents(events) == ["Hello"] and b'"error"' in events and b"[DONE]" not in events
    followed = [r for r in kit.records if r.deployment == CACHE_DEPLOYMENT]
    assert len(followed) == 1 and followed[0].cost_micros == 0 and followed[0].outcome == "upstream_error"


async def test_a_live_follower_that_leaves_does_not_disturb_the_leader(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chunks = [chunk("Hello"), chunk(" there", "stop"), usage_chunk()]
    kit = cached(monkeypatch, tmp_path, FakeBackend(chunks=chunks))
    leading = await kit.pipeline.stream(ACME, kit.call(stream=True, request_id="lead"))
    following = await kit.pipeline.stream(ACME, kit.call(stream=True, request_id="streamed"))
    replayed = aiter(following.relay)
    await anext(replayed)
    await replayed.aclose()  # type: ignore[attr-defined]
    lead_events = b"".join([event async for event in leading.relay])
    assert "".join(_contents(lead_events)) == "Hello there" and lead_events.endswith(b"data: [DONE]\n\n")
    outcomes = sorted(str(r.outcome) for r in kit.records)
    assert outcomes == ["client_disconnect", "ok"]


async def aclosing_all(events: Any) -> None:
    async for _ in events:
        pass
