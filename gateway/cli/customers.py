"""``tollgate customers create|update|list`` and ``tollgate credits add|show``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gateway.admin.credits import CreditService
from gateway.admin.service import AdminService
from gateway.admin.wire import CreditTopUp, CustomerCreate, CustomerOut, CustomerUpdate
from gateway.cli.runner import Commands, run_command, when
from gateway.cli.tables import render
from gateway.protocol.decoding import validate

_NONE = "none"  # on `customers update`, lifts a limit
_LIMITS = ("rpm", "tpm", "max_concurrency", "budget_usd", "budget_period", "budget_warning_percent")


def register(commands: Commands, config: argparse.ArgumentParser) -> None:
    _add_customers(commands, config)
    _add_credits(commands, config)


def _count(text: str) -> int | str:
    if text.strip().lower() == _NONE:
        return _NONE
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (or {_NONE!r})") from None


def _add_terms(parser: argparse.ArgumentParser, *, update: bool) -> None:
    lift = f"; {_NONE!r} lifts it" if update else ""
    parser.add_argument("--markup-percent", help="applied to the price book: 10 is +10 %%, -5 is -5 %%")
    parser.add_argument("--rpm", type=_count, help=f"requests per minute over all the customer's keys{lift}")
    parser.add_argument("--tpm", type=_count, help=f"tokens per minute over all the customer's keys{lift}")
    parser.add_argument("--max-concurrency", type=_count, help=f"requests in flight at once{lift}")
    parser.add_argument("--budget-usd", help=f"spending limit per budget period, in dollars{lift}")
    periods = ("day", "month", _NONE) if update else ("day", "month")
    parser.add_argument("--budget-period", choices=periods, help="default: month")
    parser.add_argument("--budget-warning-percent", type=int, help="warn at this share of the budget (default 80)")
    if update:
        parser.add_argument("--prepaid", action=argparse.BooleanOptionalAction, help="enforce prepaid credits")
    else:
        parser.add_argument("--prepaid", action="store_true", default=None, help="enforce prepaid credits")
    parser.add_argument("--credit-grace-usd", help="how far below zero a prepaid balance may go, in dollars")


def _add_customers(commands: Commands, config: argparse.ArgumentParser) -> None:
    customers = commands.add_parser("customers", help="create, update and list customers").add_subparsers(
        dest="action", required=True
    )
    create = customers.add_parser("create", parents=[config], help="add a customer")
    create.add_argument("name")
    _add_terms(create, update=False)
    create.set_defaults(handler=run_command(_customers_create))
    update = customers.add_parser("update", parents=[config], help="change a customer's markup, limits or credits")
    update.add_argument("name")
    _add_terms(update, update=True)
    update.set_defaults(handler=run_command(_customers_update))
    customers.add_parser("list", parents=[config], help="list customers").set_defaults(
        handler=run_command(_customers_list)
    )


def _add_credits(commands: Commands, config: argparse.ArgumentParser) -> None:
    credits = commands.add_parser("credits", help="prepaid credit: top up and show balances").add_subparsers(
        dest="action", required=True
    )
    add = credits.add_parser("add", parents=[config], help="top up a customer's credit; prints the new balance")
    add.add_argument("--customer", required=True)
    add.add_argument("--usd", required=True, help="dollars to add, exact to the micro-dollar")
    add.add_argument("--note")
    add.add_argument("--reference", help="an idempotency key: repeated, the top-up is added once")
    add.set_defaults(handler=run_command(_credits_add))
    show = credits.add_parser("show", parents=[config], help="balances; with --customer, its latest entries too")
    show.add_argument("--customer")
    show.add_argument("--limit", type=int, default=20, help="entries to show with --customer (default 20)")
    show.set_defaults(handler=run_command(_credits_show))


def _term_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The flags given, as admin API fields; ``none`` becomes null."""
    fields: dict[str, Any] = {name: getattr(args, name) for name in _LIMITS}
    fields["markup_percent"] = args.markup_percent
    fields["prepaid"] = args.prepaid
    fields["credit_grace_usd"] = args.credit_grace_usd
    given = {name: value for name, value in fields.items() if value is not None}
    return {name: None if isinstance(value, str) and value.lower() == _NONE else value for name, value in given.items()}


async def _customers_create(service: AdminService, args: argparse.Namespace) -> None:
    body = validate({"name": args.name, **_term_fields(args)}, CustomerCreate)
    customer = await service.create_customer(body)
    print(f"Created customer {customer.name} (id {customer.id}, markup {customer.markup_percent} %).")
    print(_terms(customer))


async def _customers_update(service: AdminService, args: argparse.Namespace) -> None:
    customer = await service.update_customer(args.name, validate(_term_fields(args), CustomerUpdate))
    print(f"Updated customer {customer.name} (id {customer.id}, markup {customer.markup_percent} %).")
    print(_terms(customer))


def _terms(customer: CustomerOut) -> str:
    def limit(value: int | None) -> str:
        return "-" if value is None else str(value)

    budget = "-"
    if customer.budget_usd is not None:
        budget = f"{customer.budget_usd} USD/{customer.budget_period} (warn at {customer.budget_warning_percent} %)"
    prepaid = f"yes, grace {customer.credit_grace_usd} USD" if customer.prepaid else "no"
    return (
        f"Limits: rpm {limit(customer.rpm)}, tpm {limit(customer.tpm)}, "
        f"concurrency {limit(customer.max_concurrency)}, budget {budget}; prepaid: {prepaid}."
    )


async def _customers_list(service: AdminService, args: argparse.Namespace) -> None:
    customers = (await service.list_customers()).data
    rows = [
        [str(c.id), c.name, f"{c.markup_percent.normalize():f}", "yes" if c.prepaid else "no", when(c.created_at, "-")]
        for c in customers
    ]
    print(render(["ID", "NAME", "MARKUP %", "PREPAID", "CREATED"], rows))


async def _credits_add(service: AdminService, args: argparse.Namespace) -> None:
    fields = {"usd": args.usd, "note": args.note, "reference": args.reference}
    body = validate({k: v for k, v in fields.items() if v is not None}, CreditTopUp)
    added = await CreditService(service.sessions).top_up(args.customer, body, param="customer")
    if added.replayed:
        print(f"The reference was used before: nothing added (entry {added.entry.id}).", file=sys.stderr)
    else:
        print(f"Added {added.entry.amount_usd} USD to {added.customer} (entry {added.entry.id}).", file=sys.stderr)
    print(f"Balance of {added.customer}: {added.balance_usd} USD")


async def _credits_show(service: AdminService, args: argparse.Namespace) -> None:
    credits = CreditService(service.sessions)
    headers = ["CUSTOMER", "PREPAID", "BALANCE USD", "GRACE USD"]
    if args.customer is None:
        balances = (await credits.overview()).data
    else:
        shown = await credits.show(args.customer, args.limit, param="customer")
        balances = [shown]
    rows = [[b.customer, "yes" if b.prepaid else "no", b.balance_usd, b.credit_grace_usd] for b in balances]
    print(render(headers, rows))
    if args.customer is not None:
        entries = [
            [str(e.id), when(e.created_at, "-"), e.kind, e.amount_usd, e.reference, e.note or "-"] for e in shown.data
        ]
        print()
        print(render(["ID", "WHEN", "KIND", "AMOUNT USD", "REFERENCE", "NOTE"], entries))
