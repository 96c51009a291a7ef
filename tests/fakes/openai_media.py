"""The image and audio endpoints of the fake OpenAI server, in OpenAI's wire formats.

- ``POST /v1/images/generations`` (JSON) and ``/v1/images/edits`` (multipart) answer an
  ``ImagesResponse``: ``data`` of ``b64_json`` (a real 2x2 PNG) or ``url``, with ``size``, ``quality``
  and ``output_format``; asked for ``auto``, they report choosing 1536x1024 and ``high``.
- ``POST /v1/images/variations`` (multipart: ``image``, ``n``, ``size``, ``response_format``, ``user``)
  answers as DALL·E 2 does: ``created`` and ``data`` only; an upload without ``image`` is a 400.
- ``POST /v1/audio/transcriptions`` and ``/translations`` (multipart) answer ``json``, ``text``,
  ``srt``, ``vtt`` or ``verbose_json`` (with ``words`` and ``segments`` as asked).
- ``POST /v1/audio/speech`` streams ``SPEECH_BYTES`` in three pieces, with the format's content type.

Faults come from the prompt (images, transcriptions), the ``user`` (variations) or the input (speech):
``trigger:status:CODE``,
``trigger:policy`` (OpenAI's content-policy refusal), ``trigger:format`` (its "Invalid file format"
refusal), ``trigger:break`` (speech: the connection drops after the first piece), ``trigger:stall``
(speech: nothing more for 30 s after the first piece).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from PIL import Image

from tests.fakes import openai_server

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI

TRANSCRIPT = "Hello from the fake OpenAI upstream."
SPEECH_BYTES = b"ID3\x04\x00fake-mp3-frames-" * 64
POLICY = (
    "Your request was rejected as a result of our safety system. Your prompt may contain text that is not "
    "allowed by our safety system."
)
BAD_FORMAT = (
    "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"
)
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav"}


def routes(fake: FakeOpenAI) -> list[web.RouteDef]:
    media = _Media(fake)
    return [
        web.post("/v1/images/generations", media.generate),
        web.post("/v1/images/edits", media.edit),
        web.post("/v1/images/variations", media.vary),
        web.post("/v1/audio/transcriptions", media.transcribe),
        web.post("/v1/audio/translations", media.transcribe),
        web.post("/v1/audio/speech", media.speech),
    ]


def _error(status: int, message: str, code: str | None = None) -> web.HTTPException:
    kind = "invalid_request_error" if status < 500 else "server_error"
    error = web.HTTPException(
        text=json.dumps(openai_server.error_body(message, kind, code)), content_type="application/json"
    )
    error.set_status(status)
    return error


def _fault(text: str) -> None:
    trigger = text.split("trigger:", 1)[1].split()[0] if "trigger:" in text else ""
    if trigger.startswith("status:"):
        code = int(trigger.split(":")[1])
        raise _error(code, f"fake upstream refused with {code}", "fake_refusal")
    if trigger == "policy":
        raise _error(400, POLICY, "content_policy_violation")
    if trigger == "format":
        raise _error(400, BAD_FORMAT)


class _Media:
    def __init__(self, fake: FakeOpenAI) -> None:
        self.fake = fake

    def _check_key(self, request: web.Request) -> None:
        if request.headers.get("authorization") != f"Bearer {openai_server.API_KEY}":
            raise _error(401, "Incorrect API key provided.", "invalid_api_key")

    async def _form(self, request: web.Request) -> dict[str, Any]:
        """The form as received: text fields (a list per name) and files (name -> (filename, type, bytes))."""
        self._check_key(request)
        fields: dict[str, list[str]] = {}
        files: dict[str, list[tuple[str, str, bytes]]] = {}
        async for part in await request.multipart():
            name = part.name or ""  # type: ignore[union-attr]
            data = await part.read()  # type: ignore[union-attr]
            if part.filename:  # type: ignore[union-attr]
                files.setdefault(name, []).append((part.filename, part.headers.get("content-type", ""), bytes(data)))  # type: ignore[union-attr]
            else:
                fields.setdefault(name, []).append(data.decode())
        form = {"fields": fields, "files": files, "path": request.path}
        self.fake.state.forms.append(form)
        return form

    async def generate(self, request: web.Request) -> web.StreamResponse:
        self._check_key(request)
        body = await request.json()
        self.fake.state.requests.append(body)
        _fault(str(body.get("prompt")))
        return web.json_response(_images(body))

    async def edit(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        fields = {name: values[-1] for name, values in form["fields"].items()}
        _fault(fields.get("prompt", ""))
        return web.json_response(_images(fields))

    async def vary(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        fields = {name: values[-1] for name, values in form["fields"].items()}
        _fault(fields.get("user", ""))
        if "image" not in form["files"]:
            raise _error(400, "Missing required parameter: 'image'.", "missing_required_parameter")
        answer = _images(fields)
        return web.json_response({"created": answer["created"], "data": answer["data"]})

    async def transcribe(self, request: web.Request) -> web.StreamResponse:
        form = await self._form(request)
        fields = {name: values[-1] for name, values in form["fields"].items()}
        _fault(fields.get("prompt", ""))
        kind = fields.get("response_format", "json")
        if kind == "text":
            return web.Response(text=f"{TRANSCRIPT}\n", content_type="text/plain")
        if kind in ("srt", "vtt"):
            cue = f"00:00:00{',' if kind == 'srt' else '.'}000 --> 00:00:03{',' if kind == 'srt' else '.'}000"
            text = f"1\n{cue}\n{TRANSCRIPT}\n" if kind == "srt" else f"WEBVTT\n\n{cue}\n{TRANSCRIPT}\n"
            return web.Response(text=text, content_type="text/plain")
        usage = {"type": "duration", "seconds": 3}
        if kind == "json":
            return web.json_response({"text": TRANSCRIPT, "usage": usage})
        granularities = form["fields"].get("timestamp_granularities[]", ["segment"])
        verbose: dict[str, Any] = {"task": "transcribe", "language": "english", "duration": 3.0, "text": TRANSCRIPT}
        if "segment" in granularities:
            verbose["segments"] = [
                {
                    "id": 0,
                    "seek": 0,
                    "start": 0.0,
                    "end": 3.0,
                    "text": f" {TRANSCRIPT}",
                    "tokens": [50364, 2425],
                    "temperature": 0.0,
                    "avg_logprob": -0.2,
                    "compression_ratio": 0.9,
                    "no_speech_prob": 0.01,
                }
            ]
        if "word" in granularities:
            words = TRANSCRIPT.rstrip(".").split()
            verbose["words"] = [{"word": w, "start": i * 0.5, "end": i * 0.5 + 0.5} for i, w in enumerate(words)]
        return web.json_response({**verbose, "usage": usage})

    async def speech(self, request: web.Request) -> web.StreamResponse:
        self._check_key(request)
        body = await request.json()
        self.fake.state.requests.append(body)
        text = str(body.get("input"))
        _fault(text)
        kind = body.get("response_format", "mp3")
        response = web.StreamResponse(headers={"content-type": SPEECH_TYPES.get(kind, "audio/mpeg")})
        await response.prepare(request)
        third = len(SPEECH_BYTES) // 3
        for index, start in enumerate(range(0, len(SPEECH_BYTES), third)):
            await response.write(SPEECH_BYTES[start : start + third])
            if index == 0 and "trigger:break" in text:
                request.transport.close()  # type: ignore[union-attr]
                return response
            if index == 0 and "trigger:stall" in text:
                await asyncio.sleep(30)  # cancelled when the gateway lets go of the request
        await response.write_eof()
        return response


def tiny_png() -> bytes:
    """A real 2x2 PNG, as the fake's images."""
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 40, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def _images(body: dict[str, Any]) -> dict[str, Any]:
    count = int(body.get("n") or 1)
    as_url = body.get("response_format") == "url"
    data = [
        {"url": f"https://fake-openai.test/images/img-{i}.png"}
        if as_url
        else {"b64_json": base64.b64encode(tiny_png()).decode()}
        for i in range(count)
    ]
    size = body.get("size") or "1024x1024"
    quality = body.get("quality") or "standard"
    return {
        "created": int(time.time()),
        "data": data,
        "size": "1536x1024" if size == "auto" else size,
        "quality": "high" if quality == "auto" else quality,
        "output_format": "png",
    }
