"""Stored responses live in the database, so every replica serves them: two gateways on one Postgres,
a response created on one is retrieved, listed, chained and deleted on the other, per customer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.databases import migrated_database
from tests.support.gateway_process import running_gateway
from tests.support.sim_gateway import ADMIN_TOKEN, add_customer, sim_config


@asynccontextmanager
async def two_replicas_on_postgres(tmp_path: Path) -> AsyncIterator[tuple[str, str, dict[str, str]]]:
    """Two gateways on one fresh Postgres database; yields both URLs and a key per customer."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with migrated_database("postgres", tmp_path) as database:
        with (
            running_gateway(sim_config(tmp_path / "a", database_url=database), tmp_path / "a") as one,
            running_gateway(sim_config(tmp_path / "b", database_url=database), tmp_path / "b") as other,
        ):
            with httpx.Client(base_url=one, headers={"authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30) as admin:
                keys = {name: add_customer(admin, name) for name in ("alice", "bob")}
            yield one, other, keys


async def test_a_response_stored_by_one_replica_is_served_by_the_other(tmp_path: Path) -> None:
    async with two_replicas_on_postgres(tmp_path) as (one, other, keys):
        on_one = openai.OpenAI(base_url=f"{one}/v1", api_key=keys["alice"], max_retries=0)
        on_other = openai.OpenAI(base_url=f"{other}/v1", api_key=keys["alice"], max_retries=0)
        bob_on_other = openai.OpenAI(base_url=f"{other}/v1", api_key=keys["bob"], max_retries=0)

        created = on_one.responses.create(model="sim-chat", input="Name a lighthouse")
        with on_one.responses.stream(model="sim-chat", input="Name a harbour") as stream:
            streamed = stream.get_final_response()

        assert on_other.responses.retrieve(created.id).model_dump() == created.model_dump()
        again = on_other.responses.retrieve(streamed.id)
        assert (again.output_text, again.usage) == (streamed.output_text, streamed.usage)
        listed = on_other.responses.input_items.list(created.id)
        assert [item.content[0].text for item in listed.data] == ["Name a lighthouse"]  # type: ignore[union-attr]
        chained = on_other.responses.create(model="sim-chat", previous_response_id=created.id, input="Another")
        assert [item.type for item in on_one.responses.input_items.list(chained.id, order="asc")] == ["message"] * 3
        with pytest.raises(openai.NotFoundError):
            bob_on_other.responses.retrieve(created.id)

        on_other.responses.delete(created.id)
        with pytest.raises(openai.NotFoundError):
            on_one.responses.retrieve(created.id)
        assert on_one.responses.retrieve(chained.id).output_text == chained.output_text
