"""One JSON line per request on standard output, for log shippers to collect.

Each line says who asked (customer and key ids and the customer's name), for what (model,
endpoint), what answered (deployment), how it went (status, outcome, latency, time to first
token, tokens, cost, cache). Never the key itself, never prompt or answer text.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

from gateway.metering.pricing import format_usd
from gateway.metering.record import UsageRecord

LOGGER = "tollgate.access"
_encode = msgspec.json.Encoder().encode


def install(stream: Any = None) -> logging.Logger:
    """Send the access log, and nothing else, to ``stream`` (standard output by default), unformatted:
    each message already is a JSON document. Idempotent: a second app in the process reuses it."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        handler = logging.StreamHandler(stream or sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def metered_line(record: UsageRecord, customer: str) -> bytes:
    return _encode(
        {
            "ts": round(time.time(), 3),
            "event": "request",
            "request_id": record.request_id,
            "customer": customer,
            "customer_id": record.customer_id,
            "api_key_id": record.api_key_id,
            "model": record.model,
            "endpoint": record.endpoint,
            "stream": record.streamed,
            "deployment": record.deployment,
            "status": record.status,
            "outcome": record.outcome,
            "cache": record.cache_status,
            "latency_ms": round(record.latency_ms, 3),
            "ttft_ms": None if record.ttft_ms is None else round(record.ttft_ms, 3),
            "input_tokens": record.input_tokens,
            "output_tokens": record.output_tokens,
            "cost_usd": format_usd(record.cost_micros),
        }
    )


def refused_line(request_id: str, path: str, status: int, code: str | None, latency_ms: float) -> bytes:
    return _encode(
        {
            "ts": round(time.time(), 3),
            "event": "request",
            "request_id": request_id,
            "endpoint": path,
            "status": status,
            "outcome": "refused",
            "error_code": code,
            "latency_ms": round(latency_ms, 3),
        }
    )
