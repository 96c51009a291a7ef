"""Uploading, describing, listing, reading and deleting a customer's files."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backends.base import Form
from gateway.core.errors import InvalidRequest, NotFound, PayloadTooLarge
from gateway.db.models import StoredFile
from gateway.files import repository as files
from gateway.protocol.files import FileDeleted, FileList, FileListQuery, FileObject

Sessions = async_sessionmaker[AsyncSession]


def described(stored: StoredFile) -> FileObject:
    return FileObject(
        id=stored.id,
        bytes=stored.size,
        created_at=int(stored.created_at.timestamp()),
        filename=stored.filename,
        purpose=stored.purpose,
    )


def not_found(file_id: str) -> NotFound:
    """One answer for a file that does not exist and one of another customer: they must not differ."""
    return NotFound(f"No such File object: {file_id}", param="file_id")


async def upload(sessions: Sessions, customer_id: int, form: Form, max_bytes: int) -> FileObject:
    """Keep the form's ``file`` for ``purpose: batch``; the lines are checked when a batch uses it."""
    fields = dict(form.fields)
    purpose = fields.get("purpose")
    if purpose is None:
        raise InvalidRequest(
            "Missing required parameter: 'purpose'.", param="purpose", code="missing_required_parameter"
        )
    if purpose != "batch":
        raise InvalidRequest(
            f"Files with purpose '{purpose}' are not supported here; this gateway keeps files for batches "
            "only (purpose 'batch').",
            param="purpose",
            code="unsupported_purpose",
        )
    uploads = [upload for upload in form.files if upload.field == "file"]
    if len(uploads) != 1:
        raise InvalidRequest(
            "Send exactly one file in the 'file' field.", param="file", code="missing_required_parameter"
        )
    upload = uploads[0]
    if len(upload.data) > max_bytes:
        raise PayloadTooLarge(f"A batch input file may hold at most {max_bytes} bytes.", param="file")
    if not upload.data.strip():
        raise InvalidRequest("The file is empty.", param="file", code="empty_file")
    async with sessions() as session, session.begin():
        stored = files.add(session, customer_id, upload.filename or "upload.jsonl", purpose, upload.data)
    return described(stored)


async def retrieve(sessions: Sessions, customer_id: int, file_id: str) -> FileObject:
    async with sessions() as session:
        stored = await files.get(session, customer_id, file_id)
    if stored is None:
        raise not_found(file_id)
    return described(stored)


async def content(sessions: Sessions, customer_id: int, file_id: str) -> bytes:
    async with sessions() as session:
        stored = await files.get(session, customer_id, file_id, with_content=True)
    if stored is None:
        raise not_found(file_id)
    return stored.content


async def listing(sessions: Sessions, customer_id: int, query: FileListQuery) -> FileList:
    async with sessions() as session:
        found = await files.listing(
            session, customer_id, query.purpose, query.limit, query.order == "desc", query.after
        )
    page = [described(stored) for stored in found[: query.limit]]
    return FileList(
        data=page,
        has_more=len(found) > query.limit,
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
    )


async def delete(sessions: Sessions, customer_id: int, file_id: str) -> FileDeleted:
    async with sessions() as session, session.begin():
        removed = await files.remove(session, customer_id, file_id)
    if not removed:
        raise not_found(file_id)
    return FileDeleted(id=file_id)
