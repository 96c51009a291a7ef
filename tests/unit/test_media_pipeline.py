"""Media goes through the text pipeline's stages: the same refusals before anything is sent, the same
admission, one usage event whether the speech is answered, refused, broken or left by its client."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from backends.base import Operation
from gateway.core.errors import InvalidRequest, UpstreamStatusError
from gateway.generation.media import MediaCall, MediaService
from gateway.metering.journal import Journal, JournalUnavailable
from gateway.protocol.audio import SpeechRequest
from tests.unit.pipeline_kit import FakeBackend, Kit, build, principal

WORDS = "Hello there"
PRICE = len(WORDS) * 15  # micro-dollars: $15 a million characters


def media_of(kit: Kit) -> MediaService:
    return MediaService(kit.pipeline, {})


async def speak(kit: Kit, words: str = WORDS) -> bytes:
    call = MediaCall("req_1", Operation.SPEECH, "voice", time.perf_counter())
    raw = {"model": "voice", "input": words, "voice": "alloy"}
    answer = await media_of(kit).speak(principal(), call, SpeechRequest("voice", words, "alloy"), raw)
    assert answer.chunks is not None
    return b"".join([piece async for piece in answer.chunks])


async def test_speech_is_metered_once_priced_per_character_and_settled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    assert await speak(kit) == b"ID3audio"
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment, record.streamed) == ("ok", 200, "sim", True)
    assert (record.characters, record.cost_micros, record.price_book_version) == (len(WORDS), PRICE, 7)
    assert await kit.settled() == [(0, PRICE, False)] and kit.holding == 0


async def test_speech_the_client_leaves_before_the_first_byte_is_billed_in_full(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend(hold=asyncio.Event()))
    request = asyncio.create_task(speak(kit))
    while not kit.backend.sent:
        await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment, record.cost_micros) == (
        "client_disconnect",
        499,
        None,
        PRICE,
    )
    assert await kit.settled() == [(0, PRICE, False)] and kit.holding == 0


async def test_speech_the_upstream_refuses_is_recorded_at_no_cost(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend(error=UpstreamStatusError("no voice", upstream_status=400)))
    with pytest.raises(UpstreamStatusError):
        await speak(kit)
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment, record.cost_micros) == ("upstream_error", 400, "sim", 0)
    assert await kit.settled() == [(0, 0, True)] and kit.holding == 0


async def test_a_refused_speech_request_is_metered_as_invalid_and_never_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    with pytest.raises(InvalidRequest):
        await speak(kit, words="")
    [record] = kit.records
    assert (record.outcome, record.status, record.deployment, record.cost_micros) == ("invalid_request", 400, None, 0)
    assert kit.backend.sent == [] and await kit.settled() == []


async def test_a_journal_that_cannot_record_refuses_media_as_it_refuses_text_before_sending(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    kit.pipeline.meter.journal = Journal(tmp_path / "journal", min_free_bytes=2**62)  # a disk that is full
    with pytest.raises(JournalUnavailable):
        await speak(kit)
    with pytest.raises(JournalUnavailable):
        await kit.pipeline.complete(principal(), kit.call())
    assert kit.backend.sent == [] and kit.records == [] and await kit.settled() == []
