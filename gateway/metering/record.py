"""The usage record: one line of the journal, one row of ``usage_events``."""

from __future__ import annotations

import msgspec


class UsageRecord(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    created_at: float  # Unix seconds
    customer_id: int
    api_key_id: int
    model: str
    deployment: str | None
    endpoint: str
    streamed: bool
    status: int
    outcome: str  # an Outcome's value (gateway.metering.outcome); str, so any stored value decodes
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0
    audio_seconds: float = 0.0
    characters: int = 0
    latency_ms: float
    ttft_ms: float | None = None
    cache_status: str = "miss"
    cost_micros: int = 0
    saved_micros: int = 0
    price_book_version: int | None = None
    answer_id: str | None = None  # the id the answer carried (chatcmpl-...): what feedback may name


encode_record = msgspec.json.Encoder().encode
decode_record = msgspec.json.Decoder(UsageRecord).decode
