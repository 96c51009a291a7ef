"""The multipart forms the gateway sends upstream (image variations and edits, transcriptions), read
back by the standard library's MIME parser as a server would read them."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from backends.base import Form, Upload
from backends.http import multipart


def _parts(body: bytes, content_type: str) -> list[Message]:
    message = BytesParser(policy=HTTP).parsebytes(f"content-type: {content_type}\r\n\r\n".encode() + body)
    assert message.is_multipart()
    return list(message.iter_parts())


def test_fields_and_files_arrive_in_order_with_their_bytes() -> None:
    image = bytes(range(256)) * 4  # every byte value, CR and LF included
    form = Form(
        fields=[("model", "dall-e-2"), ("n", "2"), ("n", "3")],
        files=[Upload("image", "cat.png", "image/png", image)],
    )
    body, content_type = multipart(form)
    parts = _parts(body, content_type)
    assert [(p.get_param("name", header="content-disposition"), p.get_filename()) for p in parts] == [
        ("model", None),
        ("n", None),
        ("n", None),
        ("image", "cat.png"),
    ]
    assert [p.get_payload(decode=True) for p in parts[:3]] == [b"dall-e-2", b"2", b"3"]
    assert parts[3].get_content_type() == "image/png" and parts[3].get_payload(decode=True) == image


def test_quotes_and_line_breaks_in_names_cannot_break_out_of_their_header() -> None:
    form = Form(fields=[], files=[Upload("file", 'a"b\r\ncontent-type: text/evil.wav', "audio/wav", b"RIFF")])
    body, content_type = multipart(form)
    (part,) = _parts(body, content_type)
    assert part.get_content_type() == "audio/wav"
    assert part.get_filename() == "a%22b%0D%0Acontent-type: text/evil.wav"
    assert part.get_payload(decode=True) == b"RIFF"


def test_each_form_has_its_own_boundary() -> None:
    form = Form(fields=[("model", "whisper-1")], files=[])
    assert multipart(form)[1] != multipart(form)[1]
