"""Reading a ``multipart/form-data`` request body from ASGI, with its size limit enforced as it arrives.

The parsing is the ``multipart`` package's incremental parser (the one Litestar itself uses): this
module feeds it the body chunk by chunk and stops reading, with 413, at the first byte over the limit,
so an oversized upload is never held in memory whole.
"""

from __future__ import annotations

from multipart import MultipartError, MultipartSegment, ParserLimitReached, PushMultipartParser, parse_options_header

from backends.base import Form, Upload
from gateway.core.errors import InvalidRequest, PayloadTooLarge
from gateway.edge.asgi import ClientGone, Receive, Scope, header

MAX_PARTS = 64
MAX_FIELD_BYTES = 64 * 1024  # a text field (a prompt, say); files are bounded by the upload limit


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The upload is larger than this gateway accepts ({limit} bytes).")


def boundary_of(scope: Scope) -> str:
    kind, options = parse_options_header(header(scope, b"content-type") or "")
    boundary = options.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise InvalidRequest(
            "This endpoint takes a multipart/form-data body; send the file and the other parameters as form fields.",
            code="invalid_content_type",
        )
    return str(boundary)


async def read_form(scope: Scope, receive: Receive, limit: int) -> Form:
    """The form's text fields and files; 400 for a body that is not a well-formed form, 413 past ``limit``."""
    boundary = boundary_of(scope)
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    reader = _FormReader()
    parser = PushMultipartParser(boundary, max_segment_count=MAX_PARTS)
    size = 0
    try:
        while not parser.closed:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if chunk:
                for event in parser.parse(chunk):
                    reader.take(event)
            if not message.get("more_body", False) and not parser.closed:
                for event in parser.parse(b""):  # the end of the input: raises unless the form is complete
                    reader.take(event)
    except ParserLimitReached as exc:
        raise InvalidRequest(f"The multipart body has more than {MAX_PARTS} parts.", code="invalid_multipart") from exc
    except MultipartError as exc:
        raise InvalidRequest(f"The multipart body could not be parsed: {exc}.", code="invalid_multipart") from exc
    return Form(reader.fields, reader.files)


class _FormReader:
    """Collects the parser's events (a segment, its body chunks, None at its end) into fields and files."""

    def __init__(self) -> None:
        self.fields: list[tuple[str, str]] = []
        self.files: list[Upload] = []
        self._segment: MultipartSegment | None = None
        self._chunks: list[bytes] = []
        self._size = 0

    def take(self, event: MultipartSegment | bytes | bytearray | None) -> None:
        if isinstance(event, MultipartSegment):
            self._segment, self._chunks, self._size = event, [], 0
        elif event is not None:
            self._size += len(event)
            if self._segment is not None and self._segment.filename is None and self._size > MAX_FIELD_BYTES:
                raise InvalidRequest(
                    f"The form field '{self._segment.name}' is longer than {MAX_FIELD_BYTES} bytes.",
                    param=self._segment.name,
                    code="invalid_multipart",
                )
            self._chunks.append(bytes(event))
        elif self._segment is not None:
            self._finish(self._segment, b"".join(self._chunks))

    def _finish(self, segment: MultipartSegment, data: bytes) -> None:
        name = segment.name or ""
        if segment.filename is None:
            try:
                self.fields.append((name, data.decode(segment.charset or "utf-8")))
            except (UnicodeDecodeError, LookupError) as exc:
                raise InvalidRequest(f"The form field '{name}' is not UTF-8 text.", param=name) from exc
            return
        content_type = segment.content_type or "application/octet-stream"
        self.files.append(Upload(name, segment.filename, content_type, data))
