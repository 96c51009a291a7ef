"""Ten million usage events in Postgres, and the rollups they produce, for the dashboard benchmark.

The events are made by one ``INSERT ... SELECT`` over ``generate_series`` (seeded, so every run
makes the same data): 30 days, 200 customers (a few big, many small), two keys each, 8 models,
2% upstream errors, 15% cache hits, log-normal latencies, a time to first token on a third of the
requests. The rollups are then summed in SQL as the journal writer sums them (``usage_ingest`` and
``usage_breakdowns``): the hourly ones from the events, the dashboard's totals from the hourly usage
rollups and each day from its hours, so the pages read what metering these events would have
written.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

from gateway.metering.latency_buckets import BUCKETS, PER_DOUBLING
from gateway.metering.outcome import BILLED

CUSTOMERS = 200
MODELS = 8
DAYS = 30

EVENTS = """
INSERT INTO usage_events (request_id, created_at, customer_id, api_key_id, model, deployment, endpoint, streamed,
    status, outcome, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images,
    audio_seconds, characters, latency_ms, ttft_ms, cache_status, cost_micros, saved_micros, price_book_version)
SELECT 'bench-' || i, $1::timestamptz + (i::float8 / $2) * interval '{days} days', c + 1, 2 * c + 1 + i % 2,
    'model-' || m, 'pool', 'chat/completions', i % 3 = 0,
    CASE WHEN r3 < 0.02 THEN (ARRAY[502, 503, 504, 429])[1 + i % 4] ELSE 200 END,
    CASE WHEN r3 < 0.02 THEN 'upstream_error' ELSE 'ok' END,
    tokens, 0, 0, tokens / 4, 0, 0, 0, 0,
    CASE WHEN hit THEN 3.0 ELSE (150 + 100 * m) * exp(0.6 * sqrt(-2 * ln(r1)) * cos(2 * pi() * r2)) END,
    CASE WHEN i % 3 = 0 AND NOT hit THEN (30 + 20 * m) * exp(0.4 * sqrt(-2 * ln(r1)) * sin(2 * pi() * r2)) END,
    CASE WHEN hit THEN 'hit' ELSE 'miss' END,
    CASE WHEN hit OR r3 < 0.02 THEN 0 ELSE tokens * (1 + m) END,
    CASE WHEN hit THEN tokens * (1 + m) ELSE 0 END, 1
FROM (
    SELECT i, c, m, r1, r2, r3, r3 >= 0.02 AND r3 < 0.17 AS hit, 200 + floor(r4 * 1000)::int AS tokens
    FROM (
        SELECT i, floor({customers} * power(random(), 3))::int AS c, floor(random() * {models})::int AS m,
               1 - random() AS r1, random() AS r2, random() AS r3, random() AS r4
        FROM generate_series(1, $2) AS i
    ) AS draws
) AS events
"""

# Each index of usage_events with the statement that makes it again (the primary key's included).
INDEXES = """
SELECT i.relname AS name,
       CASE WHEN c.contype = 'p' THEN 'ALTER TABLE usage_events ADD CONSTRAINT ' || i.relname || ' '
            || pg_get_constraintdef(c.oid) ELSE pg_get_indexdef(i.oid) END AS definition
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid LEFT JOIN pg_constraint c ON c.conindid = i.oid
WHERE x.indrelid = 'usage_events'::regclass
"""
HOUR = "date_trunc('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
BUCKET = f"CASE WHEN {{ms}} <= 1 THEN 0 ELSE least({BUCKETS - 1}, floor({PER_DOUBLING} * ln({{ms}}) / ln(2))) END"
ERROR = f"outcome NOT IN ({', '.join(sorted(repr(str(o)) for o in BILLED))})"  # outcome.is_error

ROLLUPS = f"""
INSERT INTO usage_rollups SELECT {HOUR}, customer_id, api_key_id, model, count(*), count(*) FILTER (WHERE {ERROR}),
    count(*) FILTER (WHERE cache_status <> 'miss'), sum(input_tokens), sum(cached_input_tokens),
    sum(cache_write_tokens), sum(output_tokens), sum(reasoning_tokens), sum(images), sum(audio_seconds),
    sum(characters), sum(cost_micros), sum(saved_micros), sum(latency_ms)
FROM usage_events GROUP BY 1, 2, 3, 4
"""
# Usage totals from the hourly usage rollups (already summed from the events): the same numbers.
TOTALS = """
INSERT INTO usage_totals (dimension, step, start, member, requests, errors, cache_hits, input_tokens, output_tokens,
    cost_micros, saved_micros)
SELECT '{dimension}', '{step}', {period}, {member}, sum(requests), sum(errors), sum(cache_hits), sum(input_tokens),
    sum(output_tokens), sum(cost_micros), sum(saved_micros)
FROM usage_rollups GROUP BY 3, 4
"""
MEMBERS = {"all": "''", "customer": "customer_id::text", "key": "api_key_id::text", "model": "model"}
ROLLUP_DAY = "date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
LATENCY = f"""
INSERT INTO latency_rollups (step, start, model, metric, bucket, count)
SELECT 'hour', {HOUR}, model, 'latency', {BUCKET.format(ms="latency_ms")}, count(*) FROM usage_events
GROUP BY 2, 3, 4, 5
UNION ALL
SELECT 'hour', {HOUR}, model, 'ttft', {BUCKET.format(ms="ttft_ms")}, count(*) FROM usage_events
WHERE ttft_ms IS NOT NULL GROUP BY 2, 3, 4, 5
"""
ERRORS = f"""
INSERT INTO error_rollups (step, start, kind, count)
SELECT 'hour', {HOUR}, outcome || ' ' || status, count(*) FROM usage_events WHERE {ERROR} GROUP BY 2, 3
"""
# The days of the hourly latency and error rows, summed.
DAYS_OF_HOURS = """
INSERT INTO {table} (step, start, {keys}, count)
SELECT 'day', date_trunc('day', start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', {keys}, sum(count)
FROM {table} WHERE step = 'hour' GROUP BY 2, {keys}
"""


def rollup_statements() -> list[str]:
    """What the journal writer would have added to every rollup table for these events."""
    statements = [ROLLUPS, LATENCY, ERRORS]
    for step, period in (("hour", "hour"), ("day", ROLLUP_DAY)):
        for dimension, member in MEMBERS.items():
            statements.append(TOTALS.format(dimension=dimension, step=step, period=period, member=member))
    statements.append(DAYS_OF_HOURS.format(table="latency_rollups", keys="model, metric, bucket"))
    statements.append(DAYS_OF_HOURS.format(table="error_rollups", keys="kind"))
    return statements


async def seed(dsn: str, events: int, end: dt.datetime) -> dict[str, int]:
    """Fill a migrated, empty database; returns the row count of every table it filled."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT setseed(0.8)")
        async with connection.transaction():
            await connection.execute("SET LOCAL maintenance_work_mem = '1GB'; SET LOCAL work_mem = '256MB'")
            await _customers_and_keys(connection)
            # Ten million rows go in several times faster with the indexes built afterwards.
            indexes = await connection.fetch(INDEXES)
            for index in indexes:
                await connection.execute(f"ALTER TABLE usage_events DROP CONSTRAINT IF EXISTS {index['name']}")
                await connection.execute(f"DROP INDEX IF EXISTS {index['name']}")
            start = end - dt.timedelta(days=DAYS)
            await connection.execute(EVENTS.format(days=DAYS, customers=CUSTOMERS, models=MODELS), start, events)
            for index in indexes:
                await connection.execute(index["definition"])
            for statement in rollup_statements():
                await connection.execute(statement)
        await connection.execute("VACUUM ANALYZE")
        tables = ("usage_events", "usage_rollups", "usage_totals", "latency_rollups", "error_rollups")
        return {table: await connection.fetchval(f"SELECT count(*) FROM {table}") for table in tables}
    finally:
        await connection.close()


async def _customers_and_keys(connection: asyncpg.Connection) -> None:
    await connection.execute(
        """INSERT INTO customers (id, name, markup_percent, created_at, updated_at, budget_warning_percent,
               prepaid, credit_grace_micros)
           SELECT c, 'customer-' || lpad(c::text, 3, '0'), 0, now(), now(), 80, c % 4 = 0, 0
           FROM generate_series(1, $1) AS c""",
        CUSTOMERS,
    )
    await connection.execute(
        """INSERT INTO api_keys (id, customer_id, key_hash, prefix, name, created_at, updated_at,
               budget_warning_percent)
           SELECT k, (k + 1) / 2, md5('bench-key-' || k) || md5('salt-' || k), 'tg-b' || lpad(k::text, 6, '0'),
                  CASE WHEN k % 2 = 1 THEN 'prod' ELSE 'staging' END, now(), now(), 80
           FROM generate_series(1, $1) AS k""",
        2 * CUSTOMERS,
    )
    await connection.execute("SELECT setval('customers_id_seq', $1), setval('api_keys_id_seq', $2)", CUSTOMERS,
                             2 * CUSTOMERS)  # fmt: skip
    await connection.execute(
        """INSERT INTO credit_entries (customer_id, amount_micros, kind, reference, note, created_at)
           SELECT c, 50000000, 'topup', 'topup:bench-' || c, 'bench', now() FROM generate_series(4, $1, 4) AS c""",
        CUSTOMERS,
    )
