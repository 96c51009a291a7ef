"""``/v1/batches``: create, list, retrieve and cancel, per customer (another's batch answers 404)."""

from __future__ import annotations

import msgspec
from litestar import Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.batches import service
from gateway.batches.lane import BatchLane
from gateway.edge.errors import HttpRequest, request_id_of
from gateway.keys.principal import Principal
from gateway.protocol.batches import BatchCreate, BatchListQuery
from gateway.protocol.decoding import decode_object, validate, validate_query
from gateway.settings import Settings

Sessions = async_sessionmaker[AsyncSession]

_encode = msgspec.json.Encoder().encode


def _json(request: HttpRequest, body: msgspec.Struct) -> Response[bytes]:
    return Response(_encode(body), media_type="application/json", headers={"x-request-id": request_id_of(request)})


@post("/v1/batches", status_code=200, opt={"body": BatchCreate})
async def create_batch(
    request: HttpRequest,
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
    batch_lane: NamedDependency[BatchLane | None],
) -> Response[bytes]:
    body = validate(decode_object(await request.body()), BatchCreate)
    created = await service.create(sessions, principal, body, settings.max_messages)
    if batch_lane is not None:  # this gateway's lane starts on it now, not at its next look
        batch_lane.wake()
    return _json(request, created)


@get("/v1/batches", opt={"query": BatchListQuery})
async def list_batches(
    request: HttpRequest, principal: NamedDependency[Principal], sessions: NamedDependency[Sessions]
) -> Response[bytes]:
    query = validate_query(request.query_params, BatchListQuery)
    return _json(request, await service.listing(sessions, principal.customer_id, query))


@get("/v1/batches/{batch_id:str}")
async def retrieve_batch(
    request: HttpRequest,
    batch_id: FromPath[str],
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
) -> Response[bytes]:
    return _json(request, await service.retrieve(sessions, principal.customer_id, batch_id))


@post("/v1/batches/{batch_id:str}/cancel", status_code=200)
async def cancel_batch(
    request: HttpRequest,
    batch_id: FromPath[str],
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
    batch_lane: NamedDependency[BatchLane | None],
) -> Response[bytes]:
    cancelled = await service.cancel(sessions, principal.customer_id, batch_id)
    if batch_lane is not None:
        batch_lane.wake()
    return _json(request, cancelled)


ROUTES = [create_batch, list_batches, retrieve_batch, cancel_batch]
