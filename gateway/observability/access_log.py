"""One JSON line per request on standard output, for log shippers to collect.

Each line says who asked (customer and key ids and the customer's name), for what (model,
endpoint), what answered (deployment), how it went (status, outcome, latency, time to first
token, tokens, cost, cache). Never the key itself, never prompt or answer text.

Lines are buffered and written whole, at most ``PIPE_BUF`` bytes at a time, so that the workers of
one server writing to the same pipe never interleave inside a line; the app flushes the buffer
every second and on shutdown. (The ``logging`` module costs several times more per line.)
"""

from __future__ import annotations

import os
import select
import time

import msgspec

from gateway.metering.pricing import format_usd
from gateway.metering.record import UsageRecord

FLUSH_SECONDS = 1.0


class MeteredLine(msgspec.Struct):
    """Made with positional arguments: a struct of 18 fields takes them in a fifth of the time it takes keywords."""

    ts: float
    event: str
    request_id: str
    customer: str
    customer_id: int
    api_key_id: int
    model: str
    endpoint: str
    stream: bool
    deployment: str | None
    status: int
    outcome: str
    cache: str
    latency_ms: float
    ttft_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: str


class RefusedLine(msgspec.Struct, kw_only=True):
    ts: float
    event: str
    request_id: str
    endpoint: str
    status: int
    outcome: str
    error_code: str | None
    latency_ms: float


_encode = msgspec.json.Encoder().encode


class AccessLog:
    def __init__(self, fd: int = 1) -> None:
        self._fd = fd
        self._buffer = bytearray()

    def metered(self, record: UsageRecord, customer: str) -> None:
        ttft = None if record.ttft_ms is None else round(record.ttft_ms, 3)
        line = MeteredLine(
            round(time.time(), 3),
            "request",
            record.request_id,
            customer,
            record.customer_id,
            record.api_key_id,
            record.model,
            record.endpoint,
            record.streamed,
            record.deployment,
            record.status,
            record.outcome,
            record.cache_status,
            round(record.latency_ms, 3),
            ttft,
            record.input_tokens,
            record.output_tokens,
            format_usd(record.cost_micros),
        )
        self._write(_encode(line))

    def refused(self, request_id: str, path: str, status: int, code: str | None, latency_ms: float) -> None:
        line = RefusedLine(
            ts=round(time.time(), 3),
            event="request",
            request_id=request_id,
            endpoint=path,
            status=status,
            outcome="refused",
            error_code=code,
            latency_ms=round(latency_ms, 3),
        )
        self._write(_encode(line))

    def _write(self, line: bytes) -> None:
        if len(self._buffer) + len(line) + 1 > select.PIPE_BUF:
            self.flush()
        self._buffer += line
        self._buffer += b"\n"

    def flush(self) -> None:
        view = memoryview(self._buffer)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        view.release()
        self._buffer.clear()
