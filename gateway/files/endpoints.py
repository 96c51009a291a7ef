"""``/v1/files``: upload (multipart, as the OpenAI SDKs send it), list, retrieve, delete, content.

Every route authenticates the customer key first and sees only that customer's files: another
customer's file answers 404 exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.edge.errors import HttpRequest, request_id_of
from gateway.edge.multipart import read_form
from gateway.files import service
from gateway.keys.principal import Principal
from gateway.protocol.decoding import validate_query
from gateway.protocol.files import FileListQuery, FileUpload
from gateway.settings import Settings

Sessions = async_sessionmaker[AsyncSession]

_encode = msgspec.json.Encoder().encode
# The form around the file: its boundaries, headers and the purpose field.
_FORM_OVERHEAD = 64 * 1024


def _json(request: HttpRequest, body: Any) -> Response[bytes]:
    return Response(_encode(body), media_type="application/json", headers={"x-request-id": request_id_of(request)})


@post("/v1/files", status_code=200, opt={"form": FileUpload, "files": ("file",)})
async def upload_file(
    request: HttpRequest,
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
    settings: NamedDependency[Settings],
) -> Response[bytes]:
    """The body is read here, with the file limit enforced as it arrives, not by the app's JSON limit."""
    limit = settings.batches.max_file_bytes
    form = await read_form(dict(request.scope), request.receive, limit + _FORM_OVERHEAD)
    return _json(request, await service.upload(sessions, principal.customer_id, form, limit))


@get("/v1/files", opt={"query": FileListQuery})
async def list_files(
    request: HttpRequest, principal: NamedDependency[Principal], sessions: NamedDependency[Sessions]
) -> Response[bytes]:
    query = validate_query(request.query_params, FileListQuery)
    return _json(request, await service.listing(sessions, principal.customer_id, query))


@get("/v1/files/{file_id:str}")
async def retrieve_file(
    request: HttpRequest,
    file_id: FromPath[str],
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
) -> Response[bytes]:
    return _json(request, await service.retrieve(sessions, principal.customer_id, file_id))


@delete("/v1/files/{file_id:str}", status_code=200)
async def delete_file(
    request: HttpRequest,
    file_id: FromPath[str],
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
) -> Response[bytes]:
    return _json(request, await service.delete(sessions, principal.customer_id, file_id))


@get("/v1/files/{file_id:str}/content")
async def file_content(
    request: HttpRequest,
    file_id: FromPath[str],
    principal: NamedDependency[Principal],
    sessions: NamedDependency[Sessions],
) -> Response[bytes]:
    content = await service.content(sessions, principal.customer_id, file_id)
    return Response(content, media_type="application/octet-stream", headers={"x-request-id": request_id_of(request)})


ROUTES = [upload_file, list_files, retrieve_file, delete_file, file_content]
