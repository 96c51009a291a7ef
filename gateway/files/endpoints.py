"""``/v1/files``: upload (multipart, as the OpenAI SDKs send it), list, retrieve, delete, content.

Every route authenticates the customer key first and sees only that customer's files: another
customer's file answers 404 exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, delete, get, post

from gateway.dependencies import state_of
from gateway.edge.errors import HttpRequest, request_id_of
from gateway.edge.multipart import read_form
from gateway.files import service
from gateway.protocol.decoding import validate_query
from gateway.protocol.files import FileListQuery

_encode = msgspec.json.Encoder().encode
# The form around the file: its boundaries, headers and the purpose field.
_FORM_OVERHEAD = 64 * 1024


def _json(request: HttpRequest, body: Any) -> Response[bytes]:
    return Response(_encode(body), media_type="application/json", headers={"x-request-id": request_id_of(request)})


async def _customer(request: HttpRequest) -> int:
    principal = await state_of(request).pipeline.authenticate(request.headers.get("authorization"))
    return principal.customer_id


@post("/v1/files", status_code=200)
async def upload_file(request: HttpRequest) -> Response[bytes]:
    """The body is read here, with the file limit enforced as it arrives, not by the app's JSON limit."""
    state = state_of(request)
    customer = await _customer(request)
    limit = state.settings.batches.max_file_bytes
    form = await read_form(dict(request.scope), request.receive, limit + _FORM_OVERHEAD)
    return _json(request, await service.upload(state.sessions, customer, form, limit))


@get("/v1/files")
async def list_files(request: HttpRequest) -> Response[bytes]:
    customer = await _customer(request)
    query = validate_query(request.query_params, FileListQuery)
    return _json(request, await service.listing(state_of(request).sessions, customer, query))


@get("/v1/files/{file_id:str}")
async def retrieve_file(request: HttpRequest, file_id: str) -> Response[bytes]:
    customer = await _customer(request)
    return _json(request, await service.retrieve(state_of(request).sessions, customer, file_id))


@delete("/v1/files/{file_id:str}", status_code=200)
async def delete_file(request: HttpRequest, file_id: str) -> Response[bytes]:
    customer = await _customer(request)
    return _json(request, await service.delete(state_of(request).sessions, customer, file_id))


@get("/v1/files/{file_id:str}/content")
async def file_content(request: HttpRequest, file_id: str) -> Response[bytes]:
    customer = await _customer(request)
    content = await service.content(state_of(request).sessions, customer, file_id)
    return Response(content, media_type="application/octet-stream", headers={"x-request-id": request_id_of(request)})


ROUTES = [upload_file, list_files, retrieve_file, delete_file, file_content]
