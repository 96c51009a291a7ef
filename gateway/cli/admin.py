"""``tollgate migrate``, ``keys``, ``customers``, ``credits``, ``usage`` and ``rollups``: the operator's
commands.

They work on the configured database directly, through the same services as the admin API (so the
same checks apply), and need no running gateway. A SQLite database is brought to the newest schema
first, as ``tollgate serve`` does; a Postgres one must have been migrated (``tollgate migrate``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from typing import Any

import msgspec

from gateway.admin import usage_reports
from gateway.admin.key_terms import budget_text, limits_text
from gateway.admin.service import AdminService
from gateway.admin.wire import KeyCreate, UsageQuery
from gateway.cli import customers
from gateway.cli.runner import Commands, exit_status, run_command, settings_of, when
from gateway.cli.tables import render
from gateway.db import migrate
from gateway.metering.pool_hours import pool_prices, settle_closed
from gateway.metering.pricing import format_usd
from gateway.metering.rollup_rebuild import rebuild_rollups
from gateway.protocol.decoding import validate


def register(commands: Commands) -> None:
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", help="YAML config file (default: $TOLLGATE_CONFIG, else the demo config)")
    _add_migrate(commands, config)
    _add_keys(commands, config)
    customers.register(commands, config)
    _add_usage(commands, config)
    _add_rollups(commands, config)


def _add_migrate(commands: Commands, config: argparse.ArgumentParser) -> None:
    parser = commands.add_parser("migrate", parents=[config], help="bring the database schema to the newest revision")
    parser.add_argument("--check", action="store_true", help="only report whether the schema matches the models")
    parser.add_argument("--new-revision", metavar="MESSAGE", help="(developers) autogenerate a revision")
    parser.set_defaults(handler=_migrate)


def _add_keys(commands: Commands, config: argparse.ArgumentParser) -> None:
    keys = commands.add_parser("keys", help="issue, list and revoke customer API keys").add_subparsers(
        dest="action", required=True
    )
    create = keys.add_parser("create", parents=[config], help="issue a key; it is printed once, on the last line")
    create.add_argument("--customer", required=True, help="created if it does not exist")
    create.add_argument("--name", help="a label for the key")
    create.add_argument("--models", help="comma-separated models the key may use (default: all)")
    create.add_argument("--expires", help="ISO 8601 date or date-time (UTC unless a zone is given)")
    create.add_argument("--rpm", type=int, help="requests per minute")
    create.add_argument("--tpm", type=int, help="tokens per minute")
    create.add_argument("--max-concurrency", type=int, help="requests in flight at once")
    create.add_argument("--budget-usd", help="spending limit per budget period, in dollars")
    create.add_argument("--budget-period", choices=("day", "month"), help="default: month")
    create.add_argument("--budget-warning-percent", type=int, help="warn at this share of the budget (default 80)")
    create.add_argument("--cache-ttl", type=int, help="seconds its cached answers are kept (default: the model's)")
    create.add_argument(
        "--cache-nondeterministic", action="store_true", default=None, help="also cache this key's sampled requests"
    )
    create.add_argument("--priority", type=int, help="queue tier when a pool is saturated; lower first (default 0)")
    create.add_argument("--region", help="the region this key's requests prefer")
    create.set_defaults(handler=run_command(_keys_create))
    listing = keys.add_parser("list", parents=[config], help="list keys (never their secrets)")
    listing.add_argument("--customer")
    listing.set_defaults(handler=run_command(_keys_list))
    revoke = keys.add_parser(
        "revoke", parents=[config], help="revoke a key: its id, the whole key, or a unique start of it (6+ characters)"
    )
    revoke.add_argument("key", metavar="ID_OR_KEY")
    revoke.set_defaults(handler=run_command(_keys_revoke))


def _add_usage(commands: Commands, config: argparse.ArgumentParser) -> None:
    usage = commands.add_parser("usage", parents=[config], help="usage and cost, grouped")
    usage.add_argument("--customer", help="customer name")
    usage.add_argument("--key", help="key id or prefix")
    usage.add_argument("--model")
    usage.add_argument("--from", dest="start", help="ISO 8601 date or date-time, inclusive")
    usage.add_argument("--to", dest="end", help="ISO 8601 date or date-time, exclusive")
    usage.add_argument("--group-by", choices=("model", "key", "customer", "hour", "day"), default="model")
    usage.set_defaults(handler=run_command(_usage))


def _migrate(args: argparse.Namespace) -> int:
    return exit_status(lambda: _migrate_database(args), "cannot migrate the database: {}")


def _migrate_database(args: argparse.Namespace) -> int:
    url = settings_of(args).database_url
    if args.new_revision:
        print(f"wrote {asyncio.run(migrate.new_revision(args.new_revision))}")
        return 0
    if args.check:
        diffs = asyncio.run(migrate.check(url))
        for diff in diffs:
            print(f"differs: {diff}", file=sys.stderr)
        print("the schema matches the models" if not diffs else f"{len(diffs)} difference(s)")
        return 1 if diffs else 0
    asyncio.run(migrate.upgrade(url))
    print(f"database at revision {migrate.head()} (head)")
    return 0


async def _keys_create(service: AdminService, args: argparse.Namespace) -> None:
    fields: dict[str, Any] = {
        "customer": args.customer,
        "name": args.name,
        "models": None if args.models is None else [m.strip() for m in args.models.split(",") if m.strip()],
        "expires_at": args.expires,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "max_concurrency": args.max_concurrency,
        "budget_usd": args.budget_usd,
        "budget_period": args.budget_period,
        "budget_warning_percent": args.budget_warning_percent,
        "cache_ttl_seconds": args.cache_ttl,
        "cache_nondeterministic": args.cache_nondeterministic,
        "priority": args.priority,
        "region": args.region,
    }
    body = validate({k: v for k, v in fields.items() if v is not None}, KeyCreate)
    created = await service.create_key(body, create_customer=True)
    print(f"Created key {created.id} ({created.prefix}) for customer {created.customer}.", file=sys.stderr)
    print("It is shown this once and cannot be recovered; store it now:", file=sys.stderr)
    sys.stderr.flush()
    print(created.key)


async def _keys_list(service: AdminService, args: argparse.Namespace) -> None:
    keys = (await service.list_keys(args.customer)).data
    rows = [
        [
            str(key.id),
            key.prefix,
            key.customer,
            key.name or "-",
            ",".join(key.models) if key.models else "*",
            limits_text(key.rpm, key.tpm, key.max_concurrency),
            budget_text(key.budget_micros, key.budget_period),
            when(key.expires_at, "never"),
            when(key.revoked_at, "-"),
        ]
        for key in keys
    ]
    print(render(["ID", "PREFIX", "CUSTOMER", "NAME", "MODELS", "LIMITS", "BUDGET", "EXPIRES", "REVOKED"], rows))


async def _keys_revoke(service: AdminService, args: argparse.Namespace) -> None:
    key = await service.revoke_key(args.key)
    print(f"Revoked key {key.id} ({key.prefix}) of customer {key.customer} at {when(key.revoked_at, '-')}.")


def _add_rollups(commands: Commands, config: argparse.ArgumentParser) -> None:
    rollups = commands.add_parser("rollups", help="the hourly rollups the dashboard and reports read").add_subparsers(
        dest="action", required=True
    )
    rebuild = rollups.add_parser(
        "rebuild",
        parents=[config],
        help="recompute them from the usage events, e.g. after upgrading across migration 0005",
    )
    rebuild.set_defaults(handler=run_command(_rollups_rebuild))
    settle = rollups.add_parser(
        "settle",
        parents=[config],
        help="settle self-hosted pools' closed hours: their GPU-hours to the requests served",
    )
    settle.set_defaults(handler=run_command(_rollups_settle))


async def _rollups_rebuild(service: AdminService, args: argparse.Namespace) -> None:
    async with service.sessions.begin() as session:
        events = await rebuild_rollups(session)
    print(f"Rebuilt the rollups from {events} usage events.")


async def _rollups_settle(service: AdminService, args: argparse.Namespace) -> None:
    now = dt.datetime.now(dt.UTC)
    for hour in await settle_closed(service.sessions, pool_prices(settings_of(args)), now):
        bill, idle = format_usd(hour.bill_micros), format_usd(hour.idle_micros)
        print(f"{hour.pool} {when(hour.hour, '-')}: bill {bill} USD, idle {idle} USD, {hour.requests} requests")


async def _usage(service: AdminService, args: argparse.Namespace) -> None:
    fields = {"customer": args.customer, "key": args.key, "model": args.model, "from": args.start, "to": args.end}
    fields = {k: v for k, v in fields.items() if v is not None}
    query = msgspec.convert({**fields, "group_by": args.group_by}, UsageQuery)
    report = await usage_reports.report(service.sessions, query)
    rows = [
        [
            row.group,
            str(row.requests),
            str(row.errors),
            str(row.cache_hits),
            str(row.input_tokens + row.cached_input_tokens + row.cache_write_tokens),
            str(row.output_tokens + row.reasoning_tokens),
            row.cost_usd,
        ]
        for row in report.data
    ]
    rows.append(["TOTAL", *[str(sum(int(r[i]) for r in rows)) for i in range(1, 6)], report.total_cost_usd])
    headers = [args.group_by.upper(), "REQUESTS", "ERRORS", "CACHE HITS", "INPUT TOKENS", "OUTPUT TOKENS", "COST USD"]
    print(render(headers, rows))
