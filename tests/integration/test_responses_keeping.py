"""A response kept for its customer is read back as it was delivered; one the database cannot take is
still delivered (it was generated and metered), saying ``store: false``, and the failure is logged."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import insert

from gateway.db.models import Customer
from gateway.db.models.base import utcnow
from gateway.keys.principal import Principal
from gateway.protocol.decoding import validate
from gateway.protocol.responses import ResponseRequest
from gateway.responses import repository
from gateway.responses.keeping import Keeper, shown
from tests.support.databases import BACKENDS, empty_database, migrated_database, open_sessions

ACME = Principal(key_id=3, key_hash="h", customer_id=1, customer_name="acme")
REQUEST = validate({"model": "m", "input": "hi"}, ResponseRequest)
FINAL = {"id": "resp_k", "object": "response", "model": "m", "store": True, "usage": {"cost": Decimal("0.000123")}}


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_kept_response_reads_back_as_delivered(backend: str, tmp_path: Path) -> None:
    async with migrated_database(backend, tmp_path) as url, open_sessions(url) as sessions:
        async with sessions.begin() as session:
            await session.execute(insert(Customer).values(id=1, name="acme", created_at=utcnow()))
        delivered = await Keeper(sessions, ACME, REQUEST, [], [])(FINAL)
        async with sessions() as session:
            row = await repository.find(session, 1, "resp_k")
    assert delivered == FINAL
    assert row is not None and shown(row.body) == FINAL


async def test_a_response_the_database_cannot_take_is_delivered_saying_it_is_not_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with empty_database("sqlite", tmp_path) as url, open_sessions(url) as sessions:  # no tables
        with caplog.at_level(logging.ERROR, "tollgate.errors"):
            delivered = await Keeper(sessions, ACME, REQUEST, [], [])(FINAL)
    assert delivered == {**FINAL, "store": False}
    assert FINAL["store"] is True  # the caller's response is not changed under it
    assert any("resp_k could not be stored" in r.getMessage() for r in caplog.records)
