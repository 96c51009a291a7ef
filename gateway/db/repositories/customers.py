"""Customers: who is billed, and the markup (or discount) their prices carry."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backends.errors import Conflict, InvalidRequest, NotFound
from gateway.db.models import Customer

MIN_MARKUP = Decimal(-100)
MAX_MARKUP = Decimal(1000)


def check_markup(markup_percent: Decimal) -> Decimal:
    if not markup_percent.is_finite() or not MIN_MARKUP <= markup_percent <= MAX_MARKUP:
        raise InvalidRequest(
            f"markup_percent must be between {MIN_MARKUP} and {MAX_MARKUP} (a percentage), not {markup_percent}.",
            param="markup_percent",
            code="invalid_value",
        )
    return markup_percent


async def create(session: AsyncSession, name: str, markup_percent: Decimal = Decimal(0)) -> Customer:
    """Add a customer; a name that is taken raises :class:`Conflict`."""
    name = name.strip()
    if not name:
        raise InvalidRequest("A customer needs a non-empty name.", param="name", code="invalid_value")
    check_markup(markup_percent)
    if await get_by_name(session, name) is not None:
        raise _taken(name)
    customer = Customer(name=name, markup_percent=markup_percent)
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
    customer = await require(session, name, param="name")
    customer.markup_percent = check_markup(markup_percent)
    await session.flush()
    return customer


def _taken(name: str) -> Conflict:
    return Conflict(f"A customer named {name!r} already exists.", param="name")
