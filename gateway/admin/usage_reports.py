"""Usage and cost per customer, key, model, hour or day; and the events behind them, page by page."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin.wire import (
    EventQuery,
    UsageEventOut,
    UsageEventPage,
    UsageFilterQuery,
    UsageQuery,
    UsageReport,
    UsageRow,
)
from gateway.core.errors import InvalidRequest
from gateway.core.instants import instant_param, parse_instant
from gateway.customers import repository as customers
from gateway.db.models import UsageEvent
from gateway.keys import repository as api_keys
from gateway.metering import usage_queries as usage
from gateway.metering.pricing import format_usd
from gateway.metering.usage_queries import UsageFilter, UsageTotals


async def report(sessions: async_sessionmaker[AsyncSession], query: UsageQuery) -> UsageReport:
    async with sessions.begin() as session:
        where = await _filter(session, query)
        rows = await usage.totals(session, where, query.group_by)
    total = sum(row.cost_micros for row in rows)
    return UsageReport(
        group_by=query.group_by,
        start=where.start,
        end=where.end,
        data=[usage_row(row) for row in rows],
        total_cost_micros=total,
        total_cost_usd=format_usd(total),
    )


async def events(sessions: async_sessionmaker[AsyncSession], query: EventQuery) -> UsageEventPage:
    before = None if query.cursor is None else decode_cursor(query.cursor)
    async with sessions.begin() as session:
        where = await _filter(session, query)
        found = await usage.events(session, where, limit=query.limit, before=before)
    last = found[-1] if len(found) == query.limit else None
    return UsageEventPage(
        data=[event_out(event) for event in found],
        next_cursor=None if last is None else encode_cursor(last.created_at, last.request_id),
    )


def usage_row(row: UsageTotals) -> UsageRow:
    return UsageRow(
        group=row.group,
        group_id=row.group_id,
        requests=row.requests,
        errors=row.errors,
        cache_hits=row.cache_hits,
        input_tokens=row.input_tokens,
        cached_input_tokens=row.cached_input_tokens,
        cache_write_tokens=row.cache_write_tokens,
        output_tokens=row.output_tokens,
        reasoning_tokens=row.reasoning_tokens,
        images=row.images,
        audio_seconds=row.audio_seconds,
        characters=row.characters,
        cost_micros=row.cost_micros,
        cost_usd=format_usd(row.cost_micros),
        saved_micros=row.saved_micros,
        saved_usd=format_usd(row.saved_micros),
        serving_cost_micros=row.serving_cost_micros,
        margin_micros=row.cost_micros - row.serving_cost_micros,
        mean_latency_ms=round(row.latency_ms_sum / row.requests, 3) if row.requests else None,
    )


def event_out(event: UsageEvent) -> UsageEventOut:
    return UsageEventOut(
        request_id=event.request_id,
        created_at=event.created_at,
        customer_id=event.customer_id,
        api_key_id=event.api_key_id,
        model=event.model,
        deployment=event.deployment,
        endpoint=event.endpoint,
        streamed=event.streamed,
        status=event.status,
        outcome=event.outcome,
        input_tokens=event.input_tokens,
        cached_input_tokens=event.cached_input_tokens,
        cache_write_tokens=event.cache_write_tokens,
        output_tokens=event.output_tokens,
        reasoning_tokens=event.reasoning_tokens,
        images=event.images,
        audio_seconds=event.audio_seconds,
        characters=event.characters,
        latency_ms=event.latency_ms,
        ttft_ms=event.ttft_ms,
        cache_status=event.cache_status,
        cost_micros=event.cost_micros,
        cost_usd=format_usd(event.cost_micros),
        saved_micros=event.saved_micros,
        serving_cost_micros=event.serving_cost_micros,
        margin_micros=event.cost_micros - event.serving_cost_micros,
        price_book_version=event.price_book_version,
    )


def encode_cursor(created_at: dt.datetime, request_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{request_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        at, _, request_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return parse_instant(at), request_id
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(
            "cursor is not one this API handed out; pass next_cursor from the previous page.", param="cursor"
        ) from None


async def _filter(session: AsyncSession, query: UsageFilterQuery) -> UsageFilter:
    start, end = instant_param(query.start, "from"), instant_param(query.end, "to")
    if start is not None and end is not None and start >= end:
        raise InvalidRequest("'from' must be earlier than 'to'.", param="from")
    customer = None if query.customer is None else await customers.require(session, query.customer)
    key = None if query.key is None else await api_keys.resolve(session, query.key)
    return UsageFilter(
        customer_id=None if customer is None else customer.id,
        api_key_id=None if key is None else key.id,
        model=query.model,
        start=start,
        end=end,
    )
