"""Reading multipart forms from ASGI: fields, files, and the upload limit held while the body arrives."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.core.errors import InvalidRequest, PayloadTooLarge
from gateway.edge.asgi import ClientGone
from gateway.edge.multipart import MAX_FIELD_BYTES, read_form


def part(name: str, value: bytes, filename: str | None = None, content_type: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    head = f"Content-Disposition: {disposition}\r\n" + (f"Content-Type: {content_type}\r\n" if content_type else "")
    return b"--b\r\n" + head.encode() + b"\r\n" + value + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--b--\r\n"


class Body:
    """An ASGI ``receive`` that hands out the body in pieces, counting how many were asked for."""

    def __init__(self, body: bytes, piece: int = 1000) -> None:
        self.pieces = [body[i : i + piece] for i in range(0, len(body), piece)] or [b""]
        self.read = 0

    async def __call__(self) -> dict[str, Any]:
        if self.read >= len(self.pieces):
            return {"type": "http.disconnect"}
        self.read += 1
        return {"type": "http.request", "body": self.pieces[self.read - 1], "more_body": self.read < len(self.pieces)}


def scope(content_type: str = "multipart/form-data; boundary=b", length: int | None = None) -> dict[str, Any]:
    headers = [(b"content-type", content_type.encode())]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "headers": headers}


async def test_fields_in_order_and_files_byte_for_byte() -> None:
    audio = bytes(range(256)) * 40
    body = form(
        part("model", b"whisper-1"),
        part("timestamp_granularities[]", b"word"),
        part("timestamp_granularities[]", b"segment"),
        part("file", audio, "talk.wav", "audio/wav"),
        part("prompt", "café".encode()),
    )
    read = await read_form(scope(), Body(body), 1_000_000)
    assert read.fields == [
        ("model", "whisper-1"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("prompt", "café"),
    ]
    assert [(f.field, f.filename, f.content_type, f.data) for f in read.files] == [
        ("file", "talk.wav", "audio/wav", audio)
    ]


async def test_the_limit_stops_reading_at_the_first_byte_over_it() -> None:
    body = Body(form(part("file", bytes(50_000), "big.wav")), piece=1000)
    with pytest.raises(PayloadTooLarge):
        await read_form(scope(), body, 10_000)
    assert body.read == 11  # 11 000 bytes read of 50 000: the rest was never asked for


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    body = Body(form(part("file", bytes(50_000), "big.wav")))
    with pytest.raises(PayloadTooLarge):
        await read_form(scope(length=50_200), body, 10_000)
    assert body.read == 0


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        ("application/json", b'{"model": "x"}', "invalid_content_type"),
        ("multipart/form-data", b"", "invalid_content_type"),  # no boundary
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=", "invalid_multipart"),
        ("multipart/form-data; boundary=b", part("model", b"x"), "invalid_multipart"),  # never closed
    ],
)
async def test_bodies_that_are_not_forms(content_type: str, body: bytes, code: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await read_form(scope(content_type), Body(body), 1_000_000)
    assert caught.value.code == code and caught.value.http_status == 400


async def test_a_text_field_has_its_own_limit() -> None:
    with pytest.raises(InvalidRequest) as caught:
        await read_form(scope(), Body(form(part("prompt", b"x" * (MAX_FIELD_BYTES + 1)))), 1_000_000)
    assert caught.value.param == "prompt"


async def test_a_client_that_leaves_mid_upload() -> None:
    messages = [{"type": "http.request", "body": b"--b\r\n", "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    with pytest.raises(ClientGone):
        await read_form(scope(), receive, 1_000_000)
