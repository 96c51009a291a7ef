"""Customer API keys. The secret is returned once, by :func:`create`; only its hash is stored.

Nothing here hands out a key's hash except :func:`find_by_hash` (the auth cache's lookup),
:func:`revoke` and :func:`hashes_of` (so the caller can evict keys from caches).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core.errors import Conflict, InvalidRequest, NotFound
from gateway.core.numbers import INT32_MAX, whole_number
from gateway.db.models import ApiKey, Customer
from gateway.db.models.base import utcnow
from gateway.db.models.limits import DEFAULT_WARNING_PERCENT
from gateway.keys.material import DISPLAY_LENGTH, KEY_PREFIX, MIN_REF_LENGTH, generate_key, hash_key

BUDGET_PERIODS = ("day", "month")


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """Admission limits of a key or of a customer; ``None`` is unlimited. A budget without a period
    is a monthly one; a warning is given once ``budget_warning_percent`` of it is spent."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget_micros: int | None = None
    budget_period: str | None = None
    budget_warning_percent: int = DEFAULT_WARNING_PERCENT

    def checked(self) -> KeyLimits:
        for param in ("rpm", "tpm", "max_concurrency"):
            value = getattr(self, param)
            if value is not None and value < 1:
                raise InvalidRequest(f"{param} must be a positive integer, not {value}.", param=param)
        if self.budget_micros is not None and self.budget_micros < 0:
            raise InvalidRequest("budget_usd must not be negative.", param="budget_usd")
        if self.budget_period is not None and self.budget_period not in BUDGET_PERIODS:
            raise InvalidRequest(
                f"budget_period must be one of {', '.join(BUDGET_PERIODS)}, not {self.budget_period!r}.",
                param="budget_period",
            )
        if self.budget_period is not None and self.budget_micros is None:
            raise InvalidRequest("budget_period needs a budget_usd to apply to.", param="budget_period")
        if not 1 <= self.budget_warning_percent <= 100:
            raise InvalidRequest(
                f"budget_warning_percent must be between 1 and 100, not {self.budget_warning_percent}.",
                param="budget_warning_percent",
            )
        if self.budget_micros is not None and self.budget_period is None:
            return replace(self, budget_period="month")
        return self


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Everything about a key that may be shown: never its secret, never its hash."""

    id: int
    customer_id: int
    customer: str
    prefix: str
    name: str | None
    allowed_models: list[str] | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    limits: KeyLimits
    cache_ttl_seconds: int | None = None
    cache_nondeterministic: bool = False
    priority: int = 0
    region: str | None = None


@dataclass(frozen=True, slots=True)
class IssuedKey:
    info: KeyInfo
    secret: str  # shown to the user once, stored nowhere


@dataclass(frozen=True, slots=True)
class RevokedKey:
    info: KeyInfo
    key_hash: str  # for evicting the key from the auth caches


@dataclass(frozen=True, slots=True)
class KeyOwner:
    key: ApiKey
    customer: Customer


async def create(
    session: AsyncSession,
    customer: Customer,
    *,
    name: str | None = None,
    allowed_models: list[str] | None = None,
    expires_at: dt.datetime | None = None,
    limits: KeyLimits | None = None,
    cache_ttl_seconds: int | None = None,
    cache_nondeterministic: bool = False,
    priority: int = 0,
    region: str | None = None,
) -> IssuedKey:
    checked = (limits or KeyLimits()).checked()
    if allowed_models is not None and not allowed_models:
        raise InvalidRequest("models must name at least one model; leave it out to allow all.", param="models")
    new = generate_key()
    key = ApiKey(
        customer_id=customer.id,
        key_hash=new.key_hash,
        prefix=new.prefix,
        name=name,
        allowed_models=allowed_models,
        expires_at=expires_at,
        rpm=checked.rpm,
        tpm=checked.tpm,
        max_concurrency=checked.max_concurrency,
        budget_micros=checked.budget_micros,
        budget_period=checked.budget_period,
        budget_warning_percent=checked.budget_warning_percent,
        cache_ttl_seconds=cache_ttl_seconds,
        cache_nondeterministic=cache_nondeterministic,
        priority=priority,
        region=region,
    )
    session.add(key)
    await session.flush()
    return IssuedKey(_info(key, customer.name), new.secret)


async def list_keys(session: AsyncSession, customer_id: int | None = None) -> list[KeyInfo]:
    query = select(ApiKey, Customer.name).join(Customer, Customer.id == ApiKey.customer_id).order_by(ApiKey.id)
    if customer_id is not None:
        query = query.where(ApiKey.customer_id == customer_id)
    result = await session.execute(query)
    return [_info(key, customer_name) for key, customer_name in result]


async def get(session: AsyncSession, key_id: int) -> KeyInfo | None:
    key = await session.get(ApiKey, key_id)
    if key is None:
        return None
    customer = await session.get(Customer, key.customer_id)
    return _info(key, customer.name if customer else "")


async def resolve(session: AsyncSession, ref: str, param: str = "key") -> ApiKey:
    """The key named by its id (``42``), the whole key, or any unique start of it of ``MIN_REF_LENGTH``
    characters or more (such as the displayed prefix, ``tg-AbC1234``). Errors never repeat more of
    ``ref`` than a displayed prefix: it may be a whole secret."""
    ref = ref.strip()
    if ref.isdigit():  # also ``²`` or ``١٢``: no key has such an id, as none has one past the column's range
        key_id = whole_number(ref, INT32_MAX)
        key = None if key_id is None else await session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"No API key has the id {ref[:40]}.", param=param)
        return key
    shown = ref if len(ref) <= DISPLAY_LENGTH else f"{ref[:DISPLAY_LENGTH]}..."
    if not ref.startswith(KEY_PREFIX):
        raise InvalidRequest(
            f"{shown!r} is neither a key id nor a key, nor the start of one ({KEY_PREFIX}...).", param=param
        )
    if len(ref) < MIN_REF_LENGTH:
        raise InvalidRequest(
            f"{shown!r} is too short: give at least {MIN_REF_LENGTH} characters of the key.", param=param
        )
    if len(ref) > DISPLAY_LENGTH:  # past the stored prefix, only the whole key can be checked (by its hash)
        owner = await find_by_hash(session, hash_key(ref))
        if owner is None:
            raise NotFound(
                f"No API key is {shown!r}: give the whole key or its first {DISPLAY_LENGTH} characters.", param=param
            )
        return owner.key
    # Compared as a substring: LIKE would be case-insensitive in SQLite, and keys are not.
    starts = select(ApiKey).where(func.substr(ApiKey.prefix, 1, len(ref)) == ref)
    matches = list((await session.execute(starts.limit(2))).scalars())
    if not matches:
        raise NotFound(f"No API key starts with {shown!r}.", param=param)
    if len(matches) > 1:
        raise Conflict(
            f"More than one key starts with {shown!r}; give more of it, or its id.", param=param, code="ambiguous"
        )
    return matches[0]


async def revoke(session: AsyncSession, ref: str) -> RevokedKey:
    """Revoke the key named by id or prefix. Revoking it again keeps the first revocation's time."""
    key = await resolve(session, ref)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    customer = await session.get(Customer, key.customer_id)
    return RevokedKey(_info(key, customer.name if customer else ""), key.key_hash)


async def find_by_hash(session: AsyncSession, key_hash: str) -> KeyOwner | None:
    """The key with this hash and its customer, revoked or expired ones included: the caller decides."""
    result = await session.execute(
        select(ApiKey, Customer).join(Customer, Customer.id == ApiKey.customer_id).where(ApiKey.key_hash == key_hash)
    )
    row = result.one_or_none()
    return None if row is None else KeyOwner(row[0], row[1])


async def hashes_of(session: AsyncSession, customer_id: int) -> list[str]:
    """The hashes of all of a customer's keys: what to evict from the auth caches when it changes."""
    result = await session.execute(select(ApiKey.key_hash).where(ApiKey.customer_id == customer_id))
    return list(result.scalars())


def _info(key: ApiKey, customer: str) -> KeyInfo:
    return KeyInfo(
        id=key.id,
        customer_id=key.customer_id,
        customer=customer,
        prefix=key.prefix,
        name=key.name,
        allowed_models=key.allowed_models,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        created_at=key.created_at,
        limits=KeyLimits(
            key.rpm, key.tpm, key.max_concurrency, key.budget_micros, key.budget_period, key.budget_warning_percent
        ),
        cache_ttl_seconds=key.cache_ttl_seconds,
        cache_nondeterministic=key.cache_nondeterministic,
        priority=key.priority,
        region=key.region,
    )
