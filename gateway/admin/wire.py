"""Wire models of the admin API under ``/admin``: customers, keys, credits, usage and price books.

Money goes out as integer micro-dollars and as an exact decimal string in dollars; it comes in as a
decimal (a JSON string, or a JSON number read exactly). Times are ISO 8601 in UTC.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

from gateway.settings import Pricing

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Count = Annotated[int, msgspec.Meta(ge=1)]
Percent = Annotated[int, msgspec.Meta(ge=1, le=100)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
BudgetPeriod = Literal["day", "month"]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


T = TypeVar("T")


class ListOf(msgspec.Struct, Generic[T]):
    """The list envelope of OpenAI's API: ``{"data": [...], "object": "list"}``."""

    data: list[T]
    object: str = "list"


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Admin request bodies: a misspelt field is a 400, not a silently ignored setting."""


class LimitsIn(Request):
    """The limits given to a new customer (over all of its keys together) or a new key; none is unlimited."""

    rpm: Count | None = None
    tpm: Count | None = None
    max_concurrency: Count | None = None
    budget_usd: Decimal | None = None
    budget_period: BudgetPeriod | None = None  # month when a budget is given without one
    budget_warning_percent: Percent = 80


class CustomerCreate(LimitsIn, kw_only=True):
    name: Name
    markup_percent: Decimal = Decimal(0)
    prepaid: bool = False  # refuse requests once the credit balance is spent
    credit_grace_usd: Decimal = Decimal(0)  # how far below zero a prepaid balance may go


class CustomerUpdate(Request):
    """A field left out stays as it is; ``null`` lifts a limit (a budget's period goes with it)."""

    markup_percent: Decimal | Unset = UNSET
    rpm: Count | Unset | None = UNSET
    tpm: Count | Unset | None = UNSET
    max_concurrency: Count | Unset | None = UNSET
    budget_usd: Decimal | Unset | None = UNSET
    budget_period: BudgetPeriod | Unset | None = UNSET
    budget_warning_percent: Percent | Unset = UNSET
    prepaid: bool | Unset = UNSET
    credit_grace_usd: Decimal | Unset = UNSET


class CustomerOut(msgspec.Struct, kw_only=True):
    id: int
    name: str
    markup_percent: Decimal
    stripe_customer_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    rpm: int | None
    tpm: int | None
    max_concurrency: int | None
    budget_micros: int | None
    budget_usd: str | None
    budget_period: str | None
    budget_warning_percent: int
    prepaid: bool
    credit_grace_micros: int
    credit_grace_usd: str
    object: str = "customer"


CustomerList = ListOf[CustomerOut]


class KeyCreate(LimitsIn, kw_only=True):
    customer: Name
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    models: list[Name] | None = None
    expires_at: str | None = None  # ISO 8601 date or date-time; UTC when no zone is given
    # Response cache terms (docs/cache.md): how long this key's answers are kept, and whether its
    # sampled requests are cached too.
    cache_ttl_seconds: Annotated[int, msgspec.Meta(ge=1)] | None = None
    cache_nondeterministic: bool = False
    priority: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0  # queue tier; lower goes first
    region: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None  # preferred region


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
    budget_warning_percent: int
    cache_ttl_seconds: int | None = None
    cache_nondeterministic: bool = False
    priority: int
    region: str | None
    object: str = "api_key"


class KeyCreated(KeyOut, kw_only=True):
    key: str  # the secret: shown in this answer only, stored nowhere


KeyList = ListOf[KeyOut]


class CreditTopUp(Request):
    usd: Decimal  # positive, exact to the micro-dollar
    note: Note | None = None
    # An idempotency key: a top-up repeated with the same reference is added once.
    reference: Annotated[str, msgspec.Meta(min_length=1, max_length=190)] | None = None


class CreditQuery(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 50


class CreditEntryOut(msgspec.Struct, kw_only=True):
    id: int
    amount_micros: int  # positive credits, negative debits
    amount_usd: str
    kind: str  # topup | stripe | usage | adjustment
    reference: str
    note: str | None
    created_at: dt.datetime
    object: str = "credit_entry"


class CreditBalance(msgspec.Struct, kw_only=True):
    customer: str
    prepaid: bool
    balance_micros: int
    balance_usd: str
    credit_grace_micros: int
    credit_grace_usd: str
    object: str = "credit_balance"


class CustomerCredits(CreditBalance, kw_only=True):
    data: list[CreditEntryOut]  # the latest entries, newest first


class CreditAdded(msgspec.Struct, kw_only=True):
    customer: str
    entry: CreditEntryOut
    replayed: bool  # the reference had been used before: nothing was added this time
    balance_micros: int
    balance_usd: str
    object: str = "credit_top_up"


CreditBalanceList = ListOf[CreditBalance]


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
    # What serving it cost the operator, and cost_micros less that (admin only: customers never see these).
    serving_cost_micros: int
    margin_micros: int
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
    serving_cost_micros: int
    margin_micros: int
    price_book_version: int | None


class UsageEventPage(msgspec.Struct, kw_only=True):
    data: list[UsageEventOut]
    next_cursor: str | None  # pass as ``cursor`` for the next, older page; null on the last page
    object: str = "list"


class ModelPriceIn(Pricing, kw_only=True):
    """One model's prices, as in the config's ``pricing`` block; misspelt fields are a 400 here too.
    ``cost``: what serving it costs the operator at list prices, as the config's ``cost`` block (an
    external provider's prices; never shown to customers)."""

    model: Name
    cost: Pricing | None = None


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
    cost: Pricing | None


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


class CachePurge(Request):
    """Delete cached answers of one customer, one model, or both; neither: every entry."""

    customer: str | None = None
    model: str | None = None


class CachePurged(msgspec.Struct, kw_only=True):
    customer: str | None
    model: str | None
    purged: int
    object: str = "cache.purge"
