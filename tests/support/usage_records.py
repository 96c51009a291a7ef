"""Usage records as the meter writes them, for tests that need one without serving a request."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.metering.record import UsageRecord

_PLAIN = UsageRecord(
    request_id="req",
    created_at=1_740_000_000.0,
    customer_id=1,
    api_key_id=2,
    model="chat-a",
    deployment="sim",
    endpoint="chat/completions",
    streamed=False,
    status=200,
    outcome="ok",
    latency_ms=12.0,
)


def usage_record(request_id: str, **fields: Any) -> UsageRecord:
    """A successful chat request, not streamed, that used nothing; ``fields`` replace the defaults."""
    return msgspec.structs.replace(_PLAIN, request_id=request_id, **fields)
