"""Running one line of a batch through the same pipeline as an interactive request.

The line runs as the key that created the batch (allow-list, limits, budget, metering), at the
lane's priority and with the price book's batch discount. Its answer is metered under a usage
request id derived from the batch id and the line's ``custom_id``, so a line run again after its
worker died records the same id, which the journal's drain stores once. A try that fails upstream is
metered (at no cost) under an id of its own, never the answer's: were the two to share an id, the
drain could keep the no-cost record and drop the answer. A try cancelled by its gateway's shutdown
records nothing (the pipeline's ``rerun_if_cancelled``): the re-run is the one metered.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches.input import TARGETS
from gateway.core.errors import Overloaded, TollgateError, UpstreamError
from gateway.generation.pipeline import Call, Pipeline
from gateway.keys.principal import Principal
from gateway.protocol.batches import LineResponse, OutputLine
from gateway.protocol.decoding import validate
from gateway.protocol.responses import ResponseRequest
from gateway.responses.service import ResponsesService

_encode = msgspec.json.Encoder(decimal_format="number").encode


@dataclass(frozen=True, slots=True)
class Lane:
    """What running a line needs: the pipeline, and for Responses lines the database and message limit."""

    pipeline: Pipeline
    sessions: async_sessionmaker[AsyncSession]
    max_messages: int


# Refusals that say "not now": the line waits and tries again (up to the lane's max_attempts).
RETRIED_STATUSES = frozenset({429, 502, 503, 504})


def line_request_id(batch_id: str, custom_id: str, attempt: int) -> str:
    """The usage request id of a line's answer: the same on every replica and run. ``attempt`` is the
    line's stored count, 0 unless an earlier version moved the line on to a new id after a failure."""
    digest = hashlib.sha256(f"{batch_id}\0{custom_id}\0{attempt}".encode()).hexdigest()
    return f"batch_req_{digest[:32]}"


def failure_request_id(request_id: str) -> str:
    """A fresh usage request id for one try of the line whose answer's id is ``request_id``, under
    which an upstream failure of that try is metered: its own on every try, in every run (55 characters
    of the 64 a usage id may have)."""
    return f"{request_id}-{secrets.token_hex(6)}"


def discounted_markup(markup_percent: Decimal, discount_percent: Decimal) -> Decimal:
    """The markup that prices a batch line: the customer's markup, then the batch discount, exactly
    (``(1 + m/100) * (1 - d/100) = 1 + result/100``)."""
    return (100 + markup_percent) * (100 - discount_percent) / 100 - 100


def lane_principal(principal: Principal, priority: int, discount_percent: Decimal) -> Principal:
    return dataclasses.replace(
        principal, priority=priority, markup_percent=discounted_markup(principal.markup_percent, discount_percent)
    )


def is_retried(error: TollgateError) -> bool:
    return error.http_status in RETRIED_STATUSES


def was_metered(error: TollgateError) -> bool:
    """Whether the failed try left a usage record: the router's failures do (at no cost, under the
    try's failure id), refusals before sending (limits, the key, the journal) do not."""
    return isinstance(error, (UpstreamError, Overloaded))


def retry_after(error: TollgateError, default: float) -> float:
    value = error.headers.get("retry-after", "")
    return min(float(value), 30.0) if value.replace(".", "", 1).isdigit() else default


async def run(
    lane: Lane, principal: Principal, endpoint: str, raw: dict[str, Any], request_id: str, failure_id: str
) -> bytes:
    """The line's answer body, encoded, metered under ``request_id``; raises what the pipeline raises,
    an upstream failure metered under ``failure_id``."""
    target = TARGETS[endpoint]
    model = str(raw.get("model"))
    started = time.perf_counter()
    call = Call(
        request_id, target.op, model, raw, False, False, started, rerun_if_cancelled=True, failure_id=failure_id
    )
    if target.model is ResponseRequest:
        service = ResponsesService(lane.pipeline, lane.sessions, lane.max_messages)
        created = await service.create(principal, validate(raw, ResponseRequest), call)
        return _encode(created.body)
    done = await lane.pipeline.complete(principal, call)
    return _encode(done.body)


def succeeded(custom_id: str, request_id: str, body: bytes) -> str:
    line = OutputLine(id=request_id, custom_id=custom_id, response=LineResponse(200, request_id, msgspec.Raw(body)))
    return _encode(line).decode()


def failed(custom_id: str, request_id: str, error: TollgateError, metered_as: str | None = None) -> str:
    """The line's error: its id, and the usage id its last try was metered under (``metered_as``) if
    not that one."""
    response = LineResponse(error.http_status, metered_as or request_id, error.envelope())
    return _encode(OutputLine(id=request_id, custom_id=custom_id, response=response)).decode()
