"""Customers and API keys in storage, on SQLite and Postgres."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import Conflict, InvalidRequest, NotFound
from gateway.customers import repository as customers
from gateway.customers.repository import CustomerTerms
from gateway.db.models import ApiKey
from gateway.keys import repository as api_keys
from gateway.keys.material import hash_key
from gateway.keys.repository import KeyLimits
from gateway.keys.store import KeyStore

Sessions = async_sessionmaker[AsyncSession]


async def test_a_customer_name_is_taken_once(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        await customers.create(session, "acme", Decimal("12.5"))

    with pytest.raises(Conflict) as raised:
        async with sessions.begin() as session:
            await customers.create(session, "acme")

    assert raised.value.http_status == 409
    assert raised.value.param == "name"
    assert "already exists" in raised.value.message
    async with sessions.begin() as session:
        listed = await customers.list_all(session)
    assert [(c.name, c.markup_percent) for c in listed] == [("acme", Decimal("12.5"))]


async def test_customers_are_listed_by_name_and_their_markup_can_change(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        for name in ("zeta", "alpha", "mid"):
            await customers.create(session, name)
        await customers.set_markup(session, "mid", Decimal("-5"))

    async with sessions.begin() as session:
        listed = await customers.list_all(session)
        mid = await customers.get_by_name(session, "mid")
        with pytest.raises(InvalidRequest) as raised:
            await customers.set_markup(session, "mid", Decimal("-101"))

    assert [c.name for c in listed] == ["alpha", "mid", "zeta"]
    assert mid is not None and mid.markup_percent == Decimal("-5")
    assert raised.value.param == "markup_percent"


async def test_a_key_is_stored_as_its_hash_and_shown_once(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        acme = await customers.create(session, "acme")
        issued = await api_keys.create(
            session, acme, name="ci", allowed_models=["sim-chat"], limits=KeyLimits(rpm=60, budget_micros=5_000_000)
        )

    async with sessions.begin() as session:
        stored = (await session.execute(select(ApiKey))).scalar_one()
        listed = await api_keys.list_keys(session)
        owner = await api_keys.find_by_hash(session, hash_key(issued.secret))

    assert stored.key_hash == hash_key(issued.secret)
    assert issued.secret not in {str(value) for value in vars(stored).values()}
    assert stored.prefix == issued.info.prefix and issued.secret.startswith(stored.prefix)
    assert listed == [issued.info]
    assert "key_hash" not in {f.name for f in dataclasses.fields(listed[0])}
    assert issued.secret not in repr(listed) and stored.key_hash not in repr(listed)
    assert listed[0].limits == KeyLimits(rpm=60, budget_micros=5_000_000, budget_period="month")
    assert owner is not None and owner.key.id == issued.info.id and owner.customer.name == "acme"


async def test_keys_are_listed_per_customer(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        acme, beta = await customers.create(session, "acme"), await customers.create(session, "beta")
        first = await api_keys.create(session, acme)
        await api_keys.create(session, beta)
        second = await api_keys.create(session, acme)

    async with sessions.begin() as session:
        acme_keys = await api_keys.list_keys(session, acme.id)
        everyone = await api_keys.list_keys(session)

    assert [k.id for k in acme_keys] == [first.info.id, second.info.id]
    assert {k.customer for k in everyone} == {"acme", "beta"} and len(everyone) == 3


async def test_revoking_by_id_or_prefix_stamps_the_key_once(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        acme = await customers.create(session, "acme")
        by_id, by_prefix = await api_keys.create(session, acme), await api_keys.create(session, acme)

    async with sessions.begin() as session:
        first = await api_keys.revoke(session, str(by_id.info.id))
        second = await api_keys.revoke(session, by_prefix.info.prefix)
    async with sessions.begin() as session:
        again = await api_keys.revoke(session, by_prefix.info.prefix)
        owner = await api_keys.find_by_hash(session, hash_key(by_prefix.secret))

    assert first.info.revoked_at is not None and first.key_hash == hash_key(by_id.secret)
    assert second.info.revoked_at is not None
    assert again.info.revoked_at == second.info.revoked_at
    assert owner is not None and owner.key.revoked_at == second.info.revoked_at


@pytest.mark.parametrize(
    ("ref", "error", "param"),
    [("999", NotFound, "key"), ("tg-nothing", NotFound, "key"), ("acme", InvalidRequest, "key")],
)
async def test_revoking_an_unknown_key_says_so(
    sessions: Sessions, ref: str, error: type[Exception], param: str
) -> None:
    with pytest.raises(error) as raised:
        async with sessions.begin() as session:
            await api_keys.revoke(session, ref)
    assert raised.value.param == param


@pytest.mark.parametrize(
    ("limits", "param"),
    [
        (KeyLimits(rpm=0), "rpm"),
        (KeyLimits(max_concurrency=-1), "max_concurrency"),
        (KeyLimits(budget_micros=1, budget_period="week"), "budget_period"),
        (KeyLimits(budget_period="day"), "budget_period"),
    ],
)
async def test_nonsense_limits_are_refused(sessions: Sessions, limits: KeyLimits, param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        async with sessions.begin() as session:
            await api_keys.create(session, await customers.create(session, "acme"), limits=limits)
    assert raised.value.param == param
    async with sessions.begin() as session:
        assert await api_keys.list_keys(session) == []


async def test_a_customer_has_limits_of_its_own_and_they_can_change(sessions: Sessions) -> None:
    terms = CustomerTerms(KeyLimits(rpm=100, budget_micros=50_000_000, budget_warning_percent=90), True, 2_000_000)
    async with sessions.begin() as session:
        acme = await customers.create(session, "acme", terms=terms)
    created_terms = customers.terms_of(acme)

    async with sessions.begin() as session:
        stored = await customers.require(session, "acme")
        changed = dataclasses.replace(created_terms, limits=KeyLimits(tpm=5000), prepaid=False)
        await customers.update(session, stored, terms=changed)
    async with sessions.begin() as session:
        reloaded = await customers.require(session, "acme")

    assert created_terms == dataclasses.replace(terms, limits=dataclasses.replace(terms.limits, budget_period="month"))
    assert customers.terms_of(reloaded) == CustomerTerms(KeyLimits(tpm=5000), False, 2_000_000)
    assert reloaded.updated_at > acme.updated_at


@pytest.mark.parametrize(
    ("terms", "param"),
    [
        (CustomerTerms(KeyLimits(tpm=0)), "tpm"),
        (CustomerTerms(KeyLimits(budget_micros=1, budget_warning_percent=0)), "budget_warning_percent"),
        (CustomerTerms(KeyLimits(budget_warning_percent=101)), "budget_warning_percent"),
        (CustomerTerms(credit_grace_micros=-1), "credit_grace_usd"),
    ],
)
async def test_nonsense_customer_terms_are_refused(sessions: Sessions, terms: CustomerTerms, param: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        async with sessions.begin() as session:
            await customers.create(session, "acme", terms=terms)
    assert raised.value.param == param


async def test_a_principal_carries_its_key_and_customer_limits(sessions: Sessions) -> None:
    terms = CustomerTerms(KeyLimits(rpm=1000, tpm=9, max_concurrency=3, budget_micros=7, budget_period="day"), True, 5)
    async with sessions.begin() as session:
        acme = await customers.create(session, "acme", terms=terms)
        key_limits = KeyLimits(rpm=10, budget_micros=1_000_000, budget_warning_percent=50)
        issued = await api_keys.create(session, acme, limits=key_limits)

    principal = await KeyStore(sessions).load(hash_key(issued.secret))

    assert principal is not None
    assert (principal.rpm, principal.budget_micros, principal.budget_period) == (10, 1_000_000, "month")
    assert principal.budget_warning_percent == 50
    assert (principal.customer_rpm, principal.customer_tpm, principal.customer_max_concurrency) == (1000, 9, 3)
    assert (principal.customer_budget_micros, principal.customer_budget_period) == (7, "day")
    assert principal.customer_budget_warning_percent == 80
    assert (principal.prepaid, principal.credit_grace_micros) == (True, 5)


async def test_changing_a_customer_marks_all_its_keys_changed(sessions: Sessions) -> None:
    async with sessions.begin() as session:
        acme, beta = await customers.create(session, "acme"), await customers.create(session, "beta")
        acme_keys = [await api_keys.create(session, acme) for _ in range(2)]
        await api_keys.create(session, beta)
    store = KeyStore(sessions)
    before = dt.datetime.now(dt.UTC)
    unchanged = await store.changed_since(before)

    async with sessions.begin() as session:
        await customers.update(session, await customers.require(session, "acme"), terms=CustomerTerms(prepaid=True))

    assert unchanged == {}
    assert sorted(await store.changed_since(before)) == sorted(hash_key(k.secret) for k in acme_keys)
