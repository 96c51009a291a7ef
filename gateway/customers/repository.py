"""Customers: who is billed, the markup (or discount) their prices carry, and their terms: limits
over all their keys together, and whether they pay ahead from a credit balance."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import Conflict, InvalidRequest, NotFound
from gateway.db.models import Customer
from gateway.keys.repository import KeyLimits

MIN_MARKUP = Decimal(-100)
MAX_MARKUP = Decimal(1000)


@dataclass(frozen=True, slots=True)
class CustomerTerms:
    """What admission enforces for a customer as a whole, on top of each key's own limits."""

    limits: KeyLimits = field(default_factory=KeyLimits)
    prepaid: bool = False  # refuse requests once the credit balance (less the grace) is spent
    credit_grace_micros: int = 0  # how far below zero a prepaid balance may go

    def checked(self) -> CustomerTerms:
        if self.credit_grace_micros < 0:
            raise InvalidRequest("credit_grace_usd must not be negative.", param="credit_grace_usd")
        return replace(self, limits=self.limits.checked())


def terms_of(customer: Customer) -> CustomerTerms:
    limits = KeyLimits(
        customer.rpm,
        customer.tpm,
        customer.max_concurrency,
        customer.budget_micros,
        customer.budget_period,
        customer.budget_warning_percent,
    )
    return CustomerTerms(limits, customer.prepaid, customer.credit_grace_micros)


def check_markup(markup_percent: Decimal) -> Decimal:
    if not markup_percent.is_finite() or not MIN_MARKUP <= markup_percent <= MAX_MARKUP:
        raise InvalidRequest(
            f"markup_percent must be between {MIN_MARKUP} and {MAX_MARKUP} (a percentage), not {markup_percent}.",
            param="markup_percent",
            code="invalid_value",
        )
    return markup_percent


async def create(
    session: AsyncSession, name: str, markup_percent: Decimal = Decimal(0), terms: CustomerTerms | None = None
) -> Customer:
    """Add a customer; a name that is taken raises :class:`Conflict`."""
    name = name.strip()
    if not name:
        raise InvalidRequest("A customer needs a non-empty name.", param="name", code="invalid_value")
    check_markup(markup_percent)
    checked = (terms or CustomerTerms()).checked()
    if await get_by_name(session, name) is not None:
        raise _taken(name)
    customer = Customer(name=name, markup_percent=markup_percent)
    _apply(customer, checked)
    session.add(customer)
    try:
        await session.flush()
    except IntegrityError as exc:  # created by someone else since we looked
        raise _taken(name) from exc
    return customer


async def get_or_create(session: AsyncSession, name: str) -> Customer:
    return await get_by_name(session, name.strip()) or await create(session, name)


async def get(session: AsyncSession, customer_id: int) -> Customer | None:
    return await session.get(Customer, customer_id)


async def get_by_name(session: AsyncSession, name: str) -> Customer | None:
    result = await session.execute(select(Customer).where(Customer.name == name))
    return result.scalar_one_or_none()


async def require(session: AsyncSession, name: str, param: str = "customer") -> Customer:
    customer = await get_by_name(session, name)
    if customer is None:
        raise NotFound(f"No customer is named {name!r}.", param=param)
    return customer


async def list_all(session: AsyncSession) -> list[Customer]:
    result = await session.execute(select(Customer).order_by(Customer.name))
    return list(result.scalars())


async def set_markup(session: AsyncSession, name: str, markup_percent: Decimal) -> Customer:
    return await update(session, await require(session, name, param="name"), markup_percent=markup_percent)


async def update(
    session: AsyncSession,
    customer: Customer,
    *,
    markup_percent: Decimal | None = None,
    terms: CustomerTerms | None = None,
) -> Customer:
    """Change the markup and replace the terms (the whole set: see :func:`terms_of` for the current one).

    A real change stamps ``updated_at``, which tells every replica to reload the customer's keys.
    """
    checked = None if terms is None else terms.checked()
    if markup_percent is not None:
        customer.markup_percent = check_markup(markup_percent)
    if checked is not None:
        _apply(customer, checked)
    await session.flush()
    return customer


def _apply(customer: Customer, terms: CustomerTerms) -> None:
    limits = terms.limits
    customer.rpm = limits.rpm
    customer.tpm = limits.tpm
    customer.max_concurrency = limits.max_concurrency
    customer.budget_micros = limits.budget_micros
    customer.budget_period = limits.budget_period
    customer.budget_warning_percent = limits.budget_warning_percent
    customer.prepaid = terms.prepaid
    customer.credit_grace_micros = terms.credit_grace_micros


def _taken(name: str) -> Conflict:
    return Conflict(f"A customer named {name!r} already exists.", param="name")
