"""``/v1/batches``: create, list, retrieve and cancel, per customer (another's batch answers 404)."""

from __future__ import annotations

import msgspec
from litestar import Response, get, post

from gateway.batches import service
from gateway.dependencies import state_of
from gateway.edge.errors import HttpRequest, request_id_of
from gateway.keys.principal import Principal
from gateway.protocol.batches import BatchCreate, BatchListQuery
from gateway.protocol.decoding import decode_object, validate, validate_query

_encode = msgspec.json.Encoder().encode


def _json(request: HttpRequest, body: msgspec.Struct) -> Response[bytes]:
    return Response(_encode(body), media_type="application/json", headers={"x-request-id": request_id_of(request)})


async def _principal(request: HttpRequest) -> Principal:
    return await state_of(request).pipeline.authenticate(request.headers.get("authorization"))


@post("/v1/batches", status_code=200)
async def create_batch(request: HttpRequest) -> Response[bytes]:
    state = state_of(request)
    principal = await _principal(request)
    body = validate(decode_object(await request.body()), BatchCreate)
    created = await service.create(state.sessions, principal, body, state.settings.max_messages)
    if state.batch_lane is not None:
        state.batch_lane.wake()
    return _json(request, created)


@get("/v1/batches")
async def list_batches(request: HttpRequest) -> Response[bytes]:
    principal = await _principal(request)
    query = validate_query(request.query_params, BatchListQuery)
    return _json(request, await service.listing(state_of(request).sessions, principal.customer_id, query))


@get("/v1/batches/{batch_id:str}")
async def retrieve_batch(request: HttpRequest, batch_id: str) -> Response[bytes]:
    principal = await _principal(request)
    return _json(request, await service.retrieve(state_of(request).sessions, principal.customer_id, batch_id))


@post("/v1/batches/{batch_id:str}/cancel", status_code=200)
async def cancel_batch(request: HttpRequest, batch_id: str) -> Response[bytes]:
    state = state_of(request)
    principal = await _principal(request)
    cancelled = await service.cancel(state.sessions, principal.customer_id, batch_id)
    if state.batch_lane is not None:
        state.batch_lane.wake()
    return _json(request, cancelled)


ROUTES = [create_batch, list_batches, retrieve_batch, cancel_batch]
