"""A batch line through the real pipeline (the in-process kit): metered once under its derived id at
the batch discount; the discount's arithmetic; the interactive share; and the input file's checks."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from gateway.batches import lines
from gateway.batches.input import read_input
from gateway.batches.lane import may_start, start_limit
from gateway.config.batches import MAX_LINES
from gateway.core.errors import UpstreamStatusError
from gateway.metering.pricing import to_micros
from tests.unit.pipeline_kit import MESSAGES, FakeBackend, build, principal

FULL_MICROS = 1000 * 2 + 500 * 8  # the kit's USAGE at its BOOK's prices


async def test_a_line_is_metered_once_under_its_derived_id_at_the_batch_discount(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend())
    request_id = lines.line_request_id("batch_1", "first", 0)
    who = lines.lane_principal(principal(markup_percent=Decimal(10)), 1_000_000, Decimal(50))
    lane = lines.Lane(kit.pipeline, cast(Any, None), 64)  # no Responses lines here: no database
    raw = {"model": "m", "messages": MESSAGES}
    body = await lines.run(lane, who, "/v1/chat/completions", raw, request_id, lines.failure_request_id(request_id))
    [record] = kit.records
    assert (record.request_id, record.status) == (request_id, 200)
    assert record.cost_micros == FULL_MICROS * 110 // 100 // 2  # +10 % markup, then half price: 3300
    assert json.loads(body)["usage"]["cost"] == 0.0033
    assert who.priority == 1_000_000


async def test_a_try_refused_upstream_is_metered_under_its_failure_id_never_the_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kit = build(monkeypatch, tmp_path, FakeBackend(error=UpstreamStatusError("slow down", upstream_status=429)))
    request_id = lines.line_request_id("batch_1", "first", 0)
    failure_id = lines.failure_request_id(request_id)
    lane = lines.Lane(kit.pipeline, cast(Any, None), 64)
    with pytest.raises(UpstreamStatusError):
        await lines.run(
            lane, principal(), "/v1/chat/completions", {"model": "m", "messages": MESSAGES}, request_id, failure_id
        )
    [record] = kit.records
    assert (record.request_id, record.status, record.cost_micros) == (failure_id, 429, 0)


def test_line_ids_are_stable_and_each_try_has_a_failure_id_of_its_own() -> None:
    first = lines.line_request_id("batch_1", "a", 0)
    assert first == lines.line_request_id("batch_1", "a", 0) and len(first) <= 64
    assert len({first, lines.line_request_id("batch_1", "a", 1), lines.line_request_id("batch_2", "a", 0)}) == 3
    failures = {lines.failure_request_id(first) for _ in range(100)}
    assert len(failures) == 100 and first not in failures
    assert all(failure.startswith(first) and len(failure) <= 64 for failure in failures)


@pytest.mark.parametrize("markup", ["0", "10", "-5", "12.5"])
@pytest.mark.parametrize("discount", ["0", "50", "25", "100"])
def test_the_discounted_markup_prices_exactly(markup: str, discount: str) -> None:
    usd = Decimal("0.0123457")
    expected = usd * (1 + Decimal(markup) / 100) * (1 - Decimal(discount) / 100) * 1_000_000
    priced = to_micros(usd, lines.discounted_markup(Decimal(markup), Decimal(discount)))
    assert priced == int(expected.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize(
    ("busy", "capacity", "share", "starts"),
    [
        (0, 1, 0.5, True),
        (0, 4, 1.0, True),
        (1, 4, 0.5, True),
        (2, 4, 0.5, False),
        (3, 4, 0.25, False),
        (2, 4, 0.25, True),
    ],
)
def test_a_line_starts_only_while_the_interactive_share_stays_free(
    busy: int, capacity: int, share: float, starts: bool
) -> None:
    assert may_start(busy, start_limit(capacity, share)) is starts


def _line(custom_id: str) -> bytes:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}).encode()


def test_a_good_file_gives_its_lines_in_order() -> None:
    read = read_input(b"\n".join([_line("a"), b"", _line("b")]) + b"\n", "/v1/chat/completions", 64)
    assert read.errors == [] and [(line.line, line.custom_id, line.model) for line in read.lines] == [
        (1, "a", "m"),
        (3, "b", "m"),
    ]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"\xff\xfe", "invalid_file"),
        (b"\n".join(_line(f"c{n}") for n in range(MAX_LINES + 1)), "too_many_requests"),
        (_line("s").replace(b'"hi"}]', b'"hi"}], "stream": true'), "invalid_request"),
    ],
    ids=["empty", "not-utf8", "too-many", "stream"],
)
def test_a_bad_file_fails_with_the_reason(content: bytes, code: str) -> None:
    assert [error.code for error in read_input(content, "/v1/chat/completions", 64).errors] == [code]


def test_only_the_first_hundred_bad_lines_are_reported() -> None:
    read = read_input(b"\n".join(b"not json" for _ in range(150)), "/v1/chat/completions", 64)
    assert len(read.errors) == 100 and read.errors[-1].line == 100
