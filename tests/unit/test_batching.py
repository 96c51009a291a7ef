"""Micro-batched embeddings (gateway/routing/batching.py): one upstream call for requests that arrive
together, each client answered with exactly its own vectors, encoding and share of the usage."""

from __future__ import annotations

import asyncio
import base64
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from backends.base import JSON, Operation
from gateway.core.errors import UpstreamError, UpstreamStatusError
from gateway.routing.batch_parts import shares
from gateway.routing.batching import Batcher
from gateway.routing.retry import blames_replica
from gateway.settings import Batching, ConfigError, load_settings
from gateway.tokens import Tokenizer

TOKENS = Tokenizer()


def vector(text: Any) -> list[float]:
    """What the fake answers for one input: a few float32-exact numbers of its own."""
    seed = sum(map(ord, str(text)))
    return [float(seed % 97), seed / 8, -1.5, float(len(str(text)))]


class FakeEmbedder:
    """A backend that serves list inputs, counts its calls, and refuses any input "bad" with a 400."""

    name = "fake"

    def __init__(self, *, seconds: float = 0.01, failure: Exception | None = None) -> None:
        self.calls: list[JSON] = []
        self._seconds = seconds
        self.failure = failure

    def supports(self, op: Operation) -> bool:
        return op is Operation.EMBEDDINGS

    async def request(self, op: Operation, body: JSON) -> JSON:
        self.calls.append(body)
        await asyncio.sleep(self._seconds)
        if self.failure is not None:
            raise self.failure
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if "bad" in inputs:
            raise UpstreamStatusError("input 2 is too long", upstream_status=400, code="invalid_input")
        data = [{"object": "embedding", "index": i, "embedding": vector(x)} for i, x in enumerate(inputs)]
        data.reverse()  # an upstream may list them in any order: the index says which is which
        tokens = sum(len(str(x)) for x in inputs)  # its own count, unlike the gateway's tokenizer
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        raise NotImplementedError

    async def ready(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


def batcher(max_wait_ms: float = 20, max_batch: int = 64) -> Batcher:
    return Batcher(Batching(max_wait_ms=max_wait_ms, max_batch=max_batch), TOKENS)


def ask(
    b: Batcher, upstream: FakeEmbedder, value: Any, sent: list[Any] | None = None, **params: Any
) -> asyncio.Task[JSON]:
    """``sent`` gets ``value`` when its request leaves for the upstream."""
    body = {"model": "up", "input": value, **params}
    told = [] if sent is None else sent
    return asyncio.ensure_future(b.request(upstream, Operation.EMBEDDINGS, body, lambda: told.append(value)))


def floats(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


async def test_requests_in_one_window_share_one_call_and_each_gets_its_own_vectors() -> None:
    upstream, b = FakeEmbedder(), batcher()
    inputs: list[Any] = ["hello there", ["a longer sentence here", "b"], "x y z", ["one", "two", "three"]]
    tasks = [ask(b, upstream, value) for value in inputs]
    tasks.append(ask(b, upstream, ["as base64", "too"], encoding_format="base64"))
    answers = await asyncio.gather(*tasks)
    assert len(upstream.calls) == 1
    assert upstream.calls[0]["input"] == [
        "hello there",
        "a longer sentence here",
        "b",
        "x y z",
        "one",
        "two",
        "three",
        "as base64",
        "too",
    ]
    for value, answer in zip(inputs, answers, strict=False):
        texts = value if isinstance(value, list) else [value]
        assert [row["index"] for row in answer["data"]] == list(range(len(texts)))
        assert [row["embedding"] for row in answer["data"]] == [vector(t) for t in texts]
    base64_rows = answers[-1]["data"]
    assert [floats(row["embedding"]) for row in base64_rows] == [vector("as base64"), vector("too")]
    reported = sum(len(t) for v in [*inputs, ["as base64", "too"]] for t in (v if isinstance(v, list) else [v]))
    parts = [answer["usage"]["prompt_tokens"] for answer in answers]
    assert sum(parts) == reported
    assert [answer["usage"]["total_tokens"] for answer in answers] == parts
    assert parts[1] > parts[2]  # more text, more of the count


async def test_all_base64_members_get_the_upstreams_own_base64() -> None:
    upstream, b = FakeEmbedder(), batcher()
    await asyncio.gather(
        ask(b, upstream, "p", encoding_format="base64"), ask(b, upstream, "q", encoding_format="base64")
    )
    assert upstream.calls[0]["encoding_format"] == "base64"


async def test_different_upstream_parameters_never_share_a_call() -> None:
    upstream, b = FakeEmbedder(), batcher()
    await asyncio.gather(
        ask(b, upstream, "a", dimensions=2),
        ask(b, upstream, "b", dimensions=4),
        ask(b, upstream, [1, 2, 3]),
        ask(b, upstream, "c", dimensions=2),
    )
    assert sorted(len(c["input"]) for c in upstream.calls) == [1, 1, 2]


async def test_a_full_batch_goes_at_once_and_the_next_opens() -> None:
    upstream, b = FakeEmbedder(), batcher(max_wait_ms=10_000 / 1000, max_batch=4)
    answers = await asyncio.wait_for(asyncio.gather(*(ask(b, upstream, f"t{i}") for i in range(8))), 5)
    assert [len(c["input"]) for c in upstream.calls] == [4, 4]
    assert [a["data"][0]["embedding"] for a in answers] == [vector(f"t{i}") for i in range(8)]


async def test_one_bad_input_fails_alone_and_its_neighbours_are_answered() -> None:
    upstream, b = FakeEmbedder(), batcher()
    tasks = [ask(b, upstream, value) for value in ("a", "b", ["c", "bad"], "d", "e")]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = results[2]
    assert isinstance(failed, UpstreamStatusError) and failed.upstream_status == 400
    for value, result in zip("abde", results[:2] + results[3:], strict=True):
        assert not isinstance(result, BaseException)
        assert result["data"][0]["embedding"] == vector(value)
        assert result["usage"]["prompt_tokens"] == 1  # the halves' own counts, split again
    assert len(upstream.calls) > 1


async def test_an_upstream_failure_reaches_every_member_as_its_own_error_counted_once() -> None:
    failure = UpstreamStatusError("overloaded", upstream_status=503)
    upstream, b = FakeEmbedder(failure=failure), batcher()
    results = await asyncio.gather(*(ask(b, upstream, t) for t in "abc"), return_exceptions=True)
    assert len(upstream.calls) == 1  # not split: the next deployment may answer, the router falls back
    assert all(isinstance(r, UpstreamStatusError) and r.upstream_status == 503 for r in results)
    assert len({id(r) for r in results}) == 3
    assert len({id(r.headers) for r in results if isinstance(r, UpstreamStatusError)}) == 3
    # One upstream call failed: the replica's health and a rollout count it once, not once per member.
    assert [blames_replica(r) for r in results if isinstance(r, UpstreamStatusError)] == [True, False, False]


async def test_a_client_leaving_before_the_call_is_left_out_of_it_and_never_sent() -> None:
    upstream, b, sent = FakeEmbedder(), batcher(max_wait_ms=50), []
    staying, leaving = ask(b, upstream, "stay", sent), ask(b, upstream, "leave", sent)
    await asyncio.sleep(0.01)
    assert sent == []  # joined, not sent: a client that leaves now is billed nothing
    leaving.cancel()
    answer = await staying
    assert upstream.calls[0]["input"] == ["stay"] and sent == ["stay"]
    assert answer["data"][0]["embedding"] == vector("stay")
    with pytest.raises(asyncio.CancelledError):
        await leaving


async def test_a_client_leaving_during_the_call_does_not_break_it() -> None:
    upstream, b, sent = FakeEmbedder(seconds=0.1), batcher(max_wait_ms=5), []
    staying, leaving = ask(b, upstream, "stay", sent), ask(b, upstream, "leave", sent)
    await asyncio.sleep(0.05)  # the call is under way
    assert sent == ["stay", "leave"]  # both were sent: a client that leaves now is billed its prompt
    leaving.cancel()
    answer = await staying
    assert upstream.calls[0]["input"] == ["stay", "leave"]
    assert answer["data"][0]["embedding"] == vector("stay")
    weights = [TOKENS.count("stay"), TOKENS.count("leave")]
    assert answer["usage"]["prompt_tokens"] == shares(9, weights)[0]  # its share of the call's 9


async def test_everyone_leaving_sends_nothing() -> None:
    upstream, b = FakeEmbedder(), batcher(max_wait_ms=20)
    task = ask(b, upstream, "gone")
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0.05)
    assert upstream.calls == []


async def test_requests_too_big_for_a_batch_and_other_operations_go_as_they_are() -> None:
    upstream, b = FakeEmbedder(), batcher(max_batch=2)
    await ask(b, upstream, ["a", "b", "c"])
    assert upstream.calls[0]["input"] == ["a", "b", "c"] and "encoding_format" not in upstream.calls[0]


def test_shares_add_up_to_the_total_in_proportion() -> None:
    assert shares(10, [1, 1, 1]) == [4, 3, 3]
    assert shares(7, [2, 0, 5]) == [2, 0, 5]
    assert shares(100, [3, 1]) == [75, 25]
    assert shares(5, [0, 0]) == [3, 2]
    assert sum(shares(1001, [17, 4, 9, 33, 1])) == 1001


def test_only_an_embeddings_model_may_batch(tmp_path: Path) -> None:
    config = {
        "backends": {"sim": {"type": "simulator"}},
        "models": [{"name": "chat", "deployments": [{"backend": "sim", "model": "m"}], "batching": {"max_wait_ms": 5}}],
    }
    path = tmp_path / "tollgate.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"models\[0\]\.batching: only an embeddings model"):
        load_settings(path, {})
    config["models"][0]["kind"] = "embeddings"
    path.write_text(yaml.safe_dump(config))
    settings = load_settings(path, {})
    assert settings.models[0].batching == Batching(max_wait_ms=5, max_batch=64)


async def test_closing_the_batcher_at_shutdown_fails_the_waiting_requests_instead_of_leaving_them() -> None:
    upstream = FakeEmbedder(seconds=30)  # a call that would outlive the shutdown
    batcher = Batcher(Batching(max_wait_ms=60_000, max_batch=64), TOKENS)
    body = {"model": "m", "input": "hello"}
    waiting = asyncio.ensure_future(batcher.request(upstream, Operation.EMBEDDINGS, body, lambda: None))
    await asyncio.sleep(0.05)  # in an open batch whose window is a minute long
    await asyncio.wait_for(batcher.aclose(), 5)
    with pytest.raises(UpstreamError) as failed:
        await asyncio.wait_for(waiting, 5)
    assert "cancelled" in failed.value.message
    assert upstream.calls == []  # still in its window: never sent


async def test_closing_the_batcher_cancels_a_batch_being_sent_and_fails_its_requests() -> None:
    upstream = FakeEmbedder(seconds=30)
    batcher = Batcher(Batching(max_wait_ms=10, max_batch=64), TOKENS)
    waiting = asyncio.ensure_future(
        batcher.request(upstream, Operation.EMBEDDINGS, {"model": "m", "input": "hi"}, lambda: None)
    )
    while not upstream.calls:  # sent: the upstream is working on it
        await asyncio.sleep(0.01)
    await asyncio.wait_for(batcher.aclose(), 5)
    with pytest.raises(UpstreamError):
        await asyncio.wait_for(waiting, 5)
