"""The meter prices a request from the price book and journals its one usage record; the outcome
vocabulary decides what is billed and what the dashboard counts as an error."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.keys.principal import Principal
from gateway.metering.breakdowns import error_kind
from gateway.metering.ingest import rollup_rows
from gateway.metering.journal import Journal, read_batches
from gateway.metering.media_units import MediaUsage
from gateway.metering.meter import Meter, Metered
from gateway.metering.outcome import BILLED, Outcome, is_error
from gateway.metering.pricing import ModelRates, PriceBook
from gateway.metering.record import UsageRecord
from tests.support.usage_records import usage_record

RATES = ModelRates(input_per_mtok=Decimal(2), output_per_mtok=Decimal(8), per_audio_second=Decimal("0.0001"))
BOOK = PriceBook(version=7, models={"m": RATES}, cache_hit_percent=Decimal(10))
USAGE = {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500}
FULL_MICROS = 6000  # 1000 * $2/M + 500 * $8/M = $0.006


def metered(principal: Principal | None = None, model: str = "m") -> Metered:
    who = principal or Principal(key_id=3, key_hash="h", customer_id=5, customer_name="acme")
    return Metered("req_1", who, model, "chat/completions", False, time.perf_counter(), time.time())


def meter_into(journal: Journal | None, seen: list[UsageRecord]) -> Meter:
    return Meter(journal, BOOK, lambda record, customer: seen.append(record))


def test_an_answered_request_is_priced_from_the_price_book_and_journaled_once(tmp_path: Path) -> None:
    journal, seen = Journal(tmp_path), list[UsageRecord]()
    charge = meter_into(journal, seen).record(metered(), deployment="d", status=200, outcome=Outcome.OK, usage=USAGE)
    assert (charge.cost_micros, charge.usage.input, charge.usage.output) == (FULL_MICROS, 1000, 500)
    stored = [r for batch in read_batches(journal.path, 0, 10) for r in batch.records]
    assert stored == seen and len(stored) == 1
    record = stored[0]
    assert (record.cost_micros, record.price_book_version, record.deployment) == (FULL_MICROS, 7, "d")
    # The journal keeps the outcome's plain string: a replay decodes exactly what was written.
    assert b'"outcome":"ok"' in journal.path.read_bytes() and type(record.outcome) is str


def test_the_key_markup_is_added_to_the_price() -> None:
    principal = Principal(key_id=3, key_hash="h", customer_id=5, customer_name="acme", markup_percent=Decimal(50))
    charge = meter_into(None, []).record(
        metered(principal), deployment="d", status=200, outcome=Outcome.OK, usage=USAGE
    )
    assert charge.cost_micros == FULL_MICROS * 3 // 2


@pytest.mark.parametrize(
    ("outcome", "status", "cost"),
    [
        (Outcome.OK, 200, FULL_MICROS),
        (Outcome.CLIENT_DISCONNECT, 499, FULL_MICROS),  # what was used before the client left is billed
        (Outcome.UPSTREAM_ERROR, 503, 0),
        (Outcome.INVALID_REQUEST, 400, 0),
        (Outcome.GATEWAY_ERROR, 500, 0),
    ],
)
def test_only_billed_outcomes_cost_anything(outcome: Outcome, status: int, cost: int) -> None:
    seen: list[UsageRecord] = []
    charge = meter_into(None, seen).record(metered(), deployment="d", status=status, outcome=outcome, usage=USAGE)
    assert charge.cost_micros == cost == seen[0].cost_micros
    assert (seen[0].outcome, seen[0].status) == (str(outcome), status)


def test_a_request_is_metered_only_once() -> None:
    seen: list[UsageRecord] = []
    meter, request = meter_into(None, seen), metered()
    meter.record(request, deployment="d", status=200, outcome=Outcome.OK, usage=USAGE)
    with pytest.raises(RuntimeError, match="metered twice"):
        meter.record(request, deployment="d", status=499, outcome=Outcome.CLIENT_DISCONNECT, usage=USAGE)
    assert len(seen) == 1


def test_cache_hits_media_and_unpriced_models() -> None:
    meter = meter_into(None, [])
    hit = meter.record(metered(), deployment="cache", status=200, outcome=Outcome.OK, usage=USAGE, cache_status="hit")
    assert (hit.cost_micros, hit.saved_micros) == (FULL_MICROS // 10, FULL_MICROS - FULL_MICROS // 10)
    heard = MediaUsage(audio_seconds=30.0)
    audio = meter.record(metered(), deployment="d", status=200, outcome=Outcome.OK, usage=None, media=heard)
    assert audio.cost_micros == 3000  # 30 s at $0.0001
    free = meter.record(metered(model="unpriced"), deployment="d", status=200, outcome=Outcome.OK, usage=USAGE)
    assert free.cost_micros == 0 and free.usage.total == 1500


def test_one_billed_set_and_its_complement_the_errors() -> None:
    assert {str(o) for o in BILLED} == {"ok", "client_disconnect"}
    assert "ok" in BILLED and Outcome.CLIENT_DISCONNECT in BILLED and "upstream_error" not in BILLED
    assert [o for o in Outcome if is_error(o)] == [
        Outcome.UPSTREAM_ERROR,
        Outcome.INVALID_REQUEST,
        Outcome.GATEWAY_ERROR,
    ]
    assert is_error("an outcome an older version wrote")


def test_the_dashboard_counts_every_unbilled_outcome_as_an_error() -> None:
    records = [
        usage_record("a", outcome="ok"),
        usage_record("b", outcome="client_disconnect", status=499),
        usage_record("c", outcome="upstream_error", status=503),
        usage_record("d", outcome="invalid_request", status=400),
    ]
    assert [error_kind(r) for r in records] == [None, None, "upstream_error 503", "invalid_request 400"]
    assert sum(row["errors"] for row in rollup_rows(records)) == 2
