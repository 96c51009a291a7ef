"""The admin API's logic: customers, keys and price books, between the wire and the repositories.

Each call is one transaction. Side effects outside the database (evicting a revoked key from the
auth caches) happen after the commit.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from decimal import Decimal
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.admin.wire import (
    CustomerCreate,
    CustomerList,
    CustomerOut,
    CustomerUpdate,
    KeyCreate,
    KeyCreated,
    KeyList,
    KeyOut,
    LimitsIn,
    ModelPriceIn,
    ModelPriceOut,
    PriceBookOut,
    PricePublish,
)
from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.instants import instant_param
from gateway.customers import repository as customers
from gateway.customers.repository import CustomerTerms
from gateway.db.models import Customer, ModelPrice
from gateway.keys import repository as api_keys
from gateway.keys.repository import KeyInfo, KeyLimits
from gateway.metering import price_books
from gateway.metering.price_books import PriceBookVersion
from gateway.metering.price_sync import model_price
from gateway.metering.pricing import MICROS_PER_USD, format_usd
from gateway.settings import Pricing

log = logging.getLogger("tollgate.admin")

# Called with a key's hash, after the commit, when the key was revoked or its customer changed.
KeyRevoked = Callable[[str], Awaitable[None]]

_PRICE_FIELDS = (
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_write_per_mtok",
    "reasoning_per_mtok",
    "per_audio_second",
    "per_mchar",
    "gpu_hour_usd",
)
_MAX_PRICE = Decimal(10) ** 9  # what Numeric(18, 9) holds
_MAX_USD = Decimal(10) ** 12  # well inside a 64-bit count of micro-dollars


class AdminService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        key_revoked: KeyRevoked | None = None,
        known_models: Collection[str] | None = None,
    ) -> None:
        self.sessions = sessions
        self.key_revoked = key_revoked
        self.known_models = None if known_models is None else frozenset(known_models)

    async def create_customer(self, body: CustomerCreate) -> CustomerOut:
        terms = CustomerTerms(_limits(body), body.prepaid, usd_micros(body.credit_grace_usd, "credit_grace_usd"))
        async with self.sessions.begin() as session:
            return customer_out(await customers.create(session, body.name, body.markup_percent, terms))

    async def list_customers(self) -> CustomerList:
        async with self.sessions.begin() as session:
            return CustomerList([customer_out(c) for c in await customers.list_all(session)])

    async def get_customer(self, name: str) -> CustomerOut:
        async with self.sessions.begin() as session:
            return customer_out(await customers.require(session, name, param="name"))

    async def update_customer(self, name: str, body: CustomerUpdate) -> CustomerOut:
        """Apply the fields given; the customer's keys are then reloaded by every replica's auth cache."""
        async with self.sessions.begin() as session:
            customer = await customers.require(session, name, param="name")
            terms = _updated_terms(customers.terms_of(customer), body)
            markup = None if isinstance(body.markup_percent, msgspec.UnsetType) else body.markup_percent
            await customers.update(session, customer, markup_percent=markup, terms=terms)
            hashes = await api_keys.hashes_of(session, customer.id)
        for key_hash in hashes:
            await self._announce(key_hash, f"a key of customer {customer.id}")
        return customer_out(customer)

    async def create_key(self, body: KeyCreate, *, create_customer: bool = False) -> KeyCreated:
        """Issue a key; the answer carries its secret, which is not kept anywhere."""
        expires_at = instant_param(body.expires_at, "expires_at")
        if expires_at is not None and expires_at <= dt.datetime.now(dt.UTC):
            raise InvalidRequest("expires_at is in the past.", param="expires_at")
        self._check_models(body.models, "models")
        limits = _limits(body)
        async with self.sessions.begin() as session:
            if create_customer:
                owner = await customers.get_or_create(session, body.customer)
            else:
                owner = await customers.require(session, body.customer)
            issued = await api_keys.create(
                session,
                owner,
                name=body.name,
                allowed_models=body.models,
                expires_at=expires_at,
                limits=limits,
                cache_ttl_seconds=body.cache_ttl_seconds,
                cache_nondeterministic=body.cache_nondeterministic,
                priority=body.priority,
                region=body.region,
            )
        return KeyCreated(**_key_fields(issued.info), key=issued.secret)

    async def list_keys(self, customer: str | None = None) -> KeyList:
        async with self.sessions.begin() as session:
            owner = None if customer is None else await customers.require(session, customer)
            keys = await api_keys.list_keys(session, None if owner is None else owner.id)
        return KeyList([key_out(info) for info in keys])

    async def revoke_key(self, ref: str) -> KeyOut:
        async with self.sessions.begin() as session:
            revoked = await api_keys.revoke(session, ref)
        await self._announce(revoked.key_hash, f"revoked key {revoked.info.id}")
        return key_out(revoked.info)

    async def _announce(self, key_hash: str, what: str) -> None:
        """Evict a changed key from the auth caches, after the commit."""
        if self.key_revoked is None:
            return
        try:
            await self.key_revoked(key_hash)
        except Exception:  # the change stands; the caches' database poll still picks it up
            log.exception("evicting %s from the auth caches failed", what)

    async def current_prices(self) -> PriceBookOut:
        async with self.sessions.begin() as session:
            book = await price_books.current(session)
        if book is None:
            raise NotFound("No price book has been published yet.", code="no_price_book")
        return price_book_out(book)

    async def publish_prices(self, body: PricePublish) -> PriceBookOut:
        _check_percent(body.cache_hit_percent, "cache_hit_percent")
        self._check_models([price.model for price in body.models], param="models")
        rows = [_model_price(price, f"models[{i}]") for i, price in enumerate(body.models)]
        async with self.sessions.begin() as session:
            book = await price_books.publish(session, rows, note=body.note, cache_hit_percent=body.cache_hit_percent)
        return price_book_out(book)

    def _check_models(self, models: list[str] | None, param: str) -> None:
        if models is None or self.known_models is None:
            return
        for i, model in enumerate(models):
            if model not in self.known_models:
                known = ", ".join(sorted(self.known_models)) or "none"
                raise InvalidRequest(
                    f"{model!r} is not a model this gateway serves (it serves: {known}).",
                    param=f"{param}[{i}]",
                    code="model_not_found",
                )


def customer_out(customer: Customer) -> CustomerOut:
    budget = customer.budget_micros
    return CustomerOut(
        id=customer.id,
        name=customer.name,
        markup_percent=plain(customer.markup_percent),
        stripe_customer_id=customer.stripe_customer_id,
        created_at=customer.created_at,
        updated_at=customer.updated_at,
        rpm=customer.rpm,
        tpm=customer.tpm,
        max_concurrency=customer.max_concurrency,
        budget_micros=budget,
        budget_usd=None if budget is None else format_usd(budget),
        budget_period=customer.budget_period,
        budget_warning_percent=customer.budget_warning_percent,
        prepaid=customer.prepaid,
        credit_grace_micros=customer.credit_grace_micros,
        credit_grace_usd=format_usd(customer.credit_grace_micros),
    )


def _limits(body: LimitsIn) -> KeyLimits:
    budget = None if body.budget_usd is None else usd_micros(body.budget_usd, "budget_usd")
    return KeyLimits(body.rpm, body.tpm, body.max_concurrency, budget, body.budget_period, body.budget_warning_percent)


def _updated_terms(current: CustomerTerms, body: CustomerUpdate) -> CustomerTerms:
    """The customer's terms with the fields given in a PATCH applied."""
    changes: dict[str, Any] = {
        name: getattr(body, name)
        for name in ("rpm", "tpm", "max_concurrency", "budget_period", "budget_warning_percent")
        if not isinstance(getattr(body, name), msgspec.UnsetType)
    }
    if body.budget_usd is None:
        changes["budget_micros"] = None
        changes.setdefault("budget_period", None)  # no budget, no period (unless one is given: an error)
    elif not isinstance(body.budget_usd, msgspec.UnsetType):
        changes["budget_micros"] = usd_micros(body.budget_usd, "budget_usd")
    prepaid = current.prepaid if isinstance(body.prepaid, msgspec.UnsetType) else body.prepaid
    grace = current.credit_grace_micros
    if not isinstance(body.credit_grace_usd, msgspec.UnsetType):
        grace = usd_micros(body.credit_grace_usd, "credit_grace_usd")
    return CustomerTerms(replace(current.limits, **changes), prepaid, grace)


def key_out(info: KeyInfo) -> KeyOut:
    return KeyOut(**_key_fields(info))


def plain(value: Decimal) -> Decimal:
    """The same number on every database and however it was typed: ``12.500`` and ``12.5`` are ``12.5``."""
    return Decimal(format(value.normalize(), "f"))


def plain_or_none(value: Decimal | None) -> Decimal | None:
    return None if value is None else plain(value)


def _key_fields(info: KeyInfo) -> dict[str, Any]:
    budget = info.limits.budget_micros
    return {
        "id": info.id,
        "prefix": info.prefix,
        "customer": info.customer,
        "name": info.name,
        "models": info.allowed_models,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "created_at": info.created_at,
        "rpm": info.limits.rpm,
        "tpm": info.limits.tpm,
        "max_concurrency": info.limits.max_concurrency,
        "budget_micros": budget,
        "budget_usd": None if budget is None else format_usd(budget),
        "budget_period": info.limits.budget_period,
        "budget_warning_percent": info.limits.budget_warning_percent,
        "cache_ttl_seconds": info.cache_ttl_seconds,
        "cache_nondeterministic": info.cache_nondeterministic,
        "priority": info.priority,
        "region": info.region,
    }


def price_book_out(version: PriceBookVersion) -> PriceBookOut:
    return PriceBookOut(
        version=version.book.version,
        created_at=version.book.created_at,
        note=version.book.note,
        cache_hit_percent=plain(version.book.cache_hit_percent),
        models=[_model_price_out(price) for price in version.prices],
    )


def _model_price_out(price: ModelPrice) -> ModelPriceOut:
    per_image = None if price.per_image is None else {k: plain(Decimal(v)) for k, v in price.per_image.items()}
    return ModelPriceOut(
        model=price.model,
        input_per_mtok=plain(price.input_per_mtok),
        output_per_mtok=plain(price.output_per_mtok),
        cached_input_per_mtok=plain_or_none(price.cached_input_per_mtok),
        cache_write_per_mtok=plain_or_none(price.cache_write_per_mtok),
        reasoning_per_mtok=plain_or_none(price.reasoning_per_mtok),
        per_image=per_image,
        per_audio_second=plain_or_none(price.per_audio_second),
        per_mchar=plain_or_none(price.per_mchar),
        gpu_hour_usd=plain_or_none(price.gpu_hour_usd),
        tokens_per_gpu_hour=price.tokens_per_gpu_hour,
        cost=None if price.cost is None else msgspec.convert(price.cost, Pricing, strict=False),
    )


def _model_price(price: ModelPriceIn, where: str) -> ModelPrice:
    _check_prices(price, where)
    if price.cost is not None:
        _check_prices(price.cost, f"{where}.cost")
    return model_price(price.model, price, price.cost)


def _check_prices(pricing: Pricing, where: str) -> None:
    for field in _PRICE_FIELDS:
        value = getattr(pricing, field)
        if value is not None:
            _check_price(value, f"{where}.{field}")
    for size, usd in (pricing.per_image or {}).items():
        _check_price(usd, f"{where}.per_image.{size}")


def _check_price(value: Decimal, param: str) -> None:
    if not value.is_finite() or value < 0 or value >= _MAX_PRICE or value != value.quantize(Decimal("1e-9")):
        raise InvalidRequest(
            f"{param} must be a non-negative price below {_MAX_PRICE} with at most 9 decimals, not {value}.",
            param=param,
        )


def _check_percent(value: Decimal, param: str) -> None:
    if not value.is_finite() or not 0 <= value <= 100:
        raise InvalidRequest(f"{param} must be a percentage between 0 and 100, not {value}.", param=param)


def usd_micros(usd: Decimal, param: str, *, positive: bool = False) -> int:
    """Dollars as a request gives them, in micro-dollars; more than 6 decimals is an error, not rounded."""
    if not usd.is_finite() or usd < 0 or (positive and usd == 0) or usd >= _MAX_USD:
        kind = "a positive" if positive else "a non-negative"
        raise InvalidRequest(f"{param} must be {kind} amount of dollars below {_MAX_USD}, not {usd:f}.", param=param)
    micros = usd * MICROS_PER_USD
    if micros != micros.to_integral_value():
        raise InvalidRequest(f"{param} must be exact to the micro-dollar (6 decimals), not {usd:f}.", param=param)
    return int(micros)
