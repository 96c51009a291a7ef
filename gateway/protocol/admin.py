"""Wire models of the admin API under ``/admin``: customers, keys, usage and price books.

Money goes out as integer micro-dollars and as an exact decimal string in dollars; it comes in as a
decimal (a JSON string, or a JSON number read exactly). Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=1)]


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Admin request bodies: a misspelt field is a 400, not a silently ignored setting."""


class CustomerCreate(Request):
    name: Name
    markup_percent: Decimal = Decimal(0)


class CustomerUpdate(Request):
    markup_percent: Decimal


class CustomerOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    markup_percent: Decimal
    stripe_customer_id: str | None
    created_at: dt.datetime
    object: str = "customer"


class CustomerList(msgspec.Struct):
    data: list[CustomerOut]
    object: str = "list"


class KeyCreate(Request):
    customer: Name
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    models: list[Name] | None = None
    expires_at: str | None = None  # ISO 8601 date or date-time; UTC when no zone is given
    rpm: Count | None = None
    tpm: Count | None = None
    max_concurrency: Count | None = None
    budget_usd: Decimal | None = None
    budget_period: Literal["day", "month"] | None = None


class KeyOut(msgspec.Struct, kw_only=True):
    id: int
    prefix: str
    customer: str
    name: str | None
    models: list[str] | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    budget_micros: int | None
    budget_usd: str | None
    budget_period: str | None
    object: str = "api_key"


class KeyCreated(KeyOut, kw_only=True):
    key: str  # the secret: shown in this answer only, stored nowhere


class KeyList(msgspec.Struct):
    data: list[KeyOut]
    object: str = "list"


GroupBy = Literal["model", "key", "customer", "hour", "day"]


class UsageFilterQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The filters shared by ``GET /admin/usage`` and ``GET /admin/usage/events``."""

    customer: str | None = None  # name
    key: str | None = None  # id or prefix
    model: str | None = None
    start: str | None = msgspec.field(default=None, name="from")  # inclusive
    end: str | None = msgspec.field(default=None, name="to")  # exclusive


class UsageQuery(UsageFilterQuery, kw_only=True):
    group_by: GroupBy = "model"


class EventQuery(UsageFilterQuery, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    cursor: str | None = None


class UsageRow(msgspec.Struct, kw_only=True):
    group: str
    group_id: int | None
    requests: int
    errors: int
    cache_hits: int
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    images: int
    audio_seconds: float
    characters: int
    cost_micros: int
    cost_usd: str
    saved_micros: int
    saved_usd: str
    mean_latency_ms: float | None


class UsageReport(msgspec.Struct, kw_only=True):
    group_by: GroupBy
    start: dt.datetime | None = msgspec.field(name="from")
    end: dt.datetime | None = msgspec.field(name="to")
    data: list[UsageRow]
    total_cost_micros: int
    total_cost_usd: str
    object: str = "usage_report"


class UsageEventOut(msgspec.Struct, kw_only=True):
    request_id: str
    created_at: dt.datetime
    customer_id: int
    api_key_id: int
    model: str
    deployment: str | None
    endpoint: str
    streamed: bool
    status: int
    outcome: str
    input_tokens: int
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    images: int
    audio_seconds: float
    characters: int
    latency_ms: float
    ttft_ms: float | None
    cache_status: str
    cost_micros: int
    cost_usd: str
    saved_micros: int
    price_book_version: int | None


class UsageEventPage(msgspec.Struct, kw_only=True):
    data: list[UsageEventOut]
    next_cursor: str | None  # pass as ``cursor`` for the next, older page; null on the last page
    object: str = "list"


class ModelPriceIn(Request):
    model: Name
    input_per_mtok: Decimal = Decimal(0)
    output_per_mtok: Decimal = Decimal(0)
    cached_input_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None
    reasoning_per_mtok: Decimal | None = None
    per_image: dict[str, Decimal] | None = None
    per_audio_second: Decimal | None = None
    per_mchar: Decimal | None = None
    gpu_hour_usd: Decimal | None = None
    tokens_per_gpu_hour: Count | None = None


class ModelPriceOut(msgspec.Struct, kw_only=True):
    model: str
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    cache_write_per_mtok: Decimal | None
    reasoning_per_mtok: Decimal | None
    per_image: dict[str, Decimal] | None
    per_audio_second: Decimal | None
    per_mchar: Decimal | None
    gpu_hour_usd: Decimal | None
    tokens_per_gpu_hour: int | None


class PricePublish(Request):
    models: list[ModelPriceIn]
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    cache_hit_percent: Decimal = Decimal(0)


class PriceBookOut(msgspec.Struct, kw_only=True):
    version: int
    created_at: dt.datetime
    note: str | None
    cache_hit_percent: Decimal
    models: list[ModelPriceOut]
    object: str = "price_book"
