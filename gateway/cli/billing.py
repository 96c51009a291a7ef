"""``tollgate billing sync|reconcile|checkout|status``: billing through Stripe from the command line.

They use the config's ``stripe`` block and database, like the gateway's billing job, and need no
running gateway. ``sync`` is safe beside the gateway's own job: both send from the same outbox,
under the same identifiers, and Stripe counts each identifier once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from billing.meter_sync import sync
from billing.reconcile import Reconciliation, reconcile, reconcile_linked
from gateway.billing_api import service as billing
from gateway.billing_api.wire import CheckoutCreate
from gateway.cli.runner import Commands, exit_status, settings_of, when
from gateway.cli.tables import render
from gateway.core.instants import parse_instant
from gateway.db import migrate
from gateway.db.engine import build_engine, session_factory
from gateway.metering.pricing import format_usd

if TYPE_CHECKING:
    from billing.job import BillingJob

Command = Callable[["BillingJob", argparse.Namespace], Awaitable[None]]


def register(commands: Commands) -> None:
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", help="YAML config file (default: $TOLLGATE_CONFIG, else the demo config)")
    actions = commands.add_parser("billing", help="billing through Stripe").add_subparsers(dest="action", required=True)
    actions.add_parser(
        "sync", parents=[config], help="send the usage Stripe has not received yet, once (what the gateway's job does)"
    ).set_defaults(handler=_handler(_sync))
    check = actions.add_parser("reconcile", parents=[config], help="compare usage with what Stripe has received")
    check.add_argument("--customer", help="one customer (default: every customer linked to Stripe)")
    check.add_argument("--from", dest="start", type=_instant, required=True, help="ISO 8601, inclusive")
    check.add_argument("--to", dest="end", type=_instant, required=True, help="ISO 8601, exclusive")
    check.set_defaults(handler=_handler(_reconcile))
    top_up = actions.add_parser("checkout", parents=[config], help="a Stripe Checkout link for a credit top-up")
    top_up.add_argument("customer")
    top_up.add_argument("--usd", type=_dollars, required=True, help="the amount, in whole cents")
    top_up.add_argument("--reference", help="an idempotency key: repeated within 24 hours, the same link")
    top_up.set_defaults(handler=_handler(_checkout))
    actions.add_parser("status", parents=[config], help="credit, sync and reconciliation per customer").set_defaults(
        handler=_handler(_status)
    )


def _instant(text: str) -> dt.datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dollars(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars") from None


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        return exit_status(lambda: _run(command, args), "database error: {}\n(has `tollgate migrate` been run?)")

    return handler


def _run(command: Command, args: argparse.Namespace) -> int:
    asyncio.run(_with_billing(command, args))
    return 0


async def _with_billing(command: Command, args: argparse.Namespace) -> None:
    settings = settings_of(args)
    if settings.stripe is None:
        raise billing.not_configured()
    from billing.job import BillingJob  # Stripe's SDK is slow to import: only for these commands

    await migrate.migrate_on_start(settings.database_url)
    engine = build_engine(settings.database_url)
    job = BillingJob(session_factory(engine), settings.stripe)
    try:
        await command(job, args)
    finally:
        await job.aclose()
        await engine.dispose()


async def _sync(job: BillingJob, _args: argparse.Namespace) -> None:
    report = await sync(job.sessions, job.api)
    print(f"customers linked to Stripe: {report.customers_linked}")
    print(f"meter events planned: {report.planned}")
    print(f"meter events sent: {report.sent} ({format_usd(report.sent_micros)} USD)")
    if report.expired:
        print(f"meter events too old for Stripe, never sent: {report.expired} (see `tollgate billing reconcile`)")


async def _reconcile(job: BillingJob, args: argparse.Namespace) -> None:
    if args.customer:
        results = [await reconcile(job.sessions, job.api, args.customer, args.start, args.end)]
    else:
        results = await reconcile_linked(job.sessions, job.api, args.start, args.end)
    for result in results:
        _print_reconciliation(result)


def _print_reconciliation(result: Reconciliation) -> None:
    period = f"{when(result.period_start, '')} .. {when(result.period_end, '')}"
    print(f"{result.customer} ({result.stripe_customer_id}), {period}")
    print(f"  tollgate {format_usd(result.tollgate_micros)} USD, stripe {format_usd(result.stripe_micros)} USD")
    if not result.differences:
        print("  no differences")
        return
    rows = [
        [when(d.hour, ""), d.kind, str(d.tollgate_micros), str(d.sent_micros), str(d.stripe_micros)]
        for d in result.differences
    ]
    table = render(["hour", "difference", "tollgate_micros", "sent_micros", "stripe_micros"], rows)
    print("\n".join(f"  {line}" for line in table.splitlines()))


async def _checkout(job: BillingJob, args: argparse.Namespace) -> None:
    made = await billing.checkout(job, args.customer, CheckoutCreate(usd=args.usd, reference=args.reference))
    print(f"{made.customer}: {made.usd} USD, expires {when(made.expires_at, '')}")
    print(made.url)


async def _status(job: BillingJob, _args: argparse.Namespace) -> None:
    found = (await billing.status(job.sessions)).data
    headers = ["customer", "stripe", "credit_usd", "last_sync", "pending_usd", "expired_usd", "differences"]
    rows = [
        [
            s.customer,
            s.stripe_customer_id or "-",
            s.credit_balance_usd,
            when(s.last_synced_at, "never"),
            s.pending_usd,
            s.expired_usd,
            "-" if s.reconciliation_differences is None else str(s.reconciliation_differences),
        ]
        for s in found
    ]
    print(render(headers, rows))
