"""The image and audio endpoints, served on plain ASGI beside the generation endpoints.

``POST /v1/images/generations`` and ``/v1/audio/speech`` take JSON; ``/v1/images/edits``,
``/v1/images/variations``, ``/v1/audio/transcriptions`` and ``/v1/audio/translations`` take
``multipart/form-data``, read with the upload limit enforced as the body arrives. Errors look exactly
as on every other endpoint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from backends.base import Form, Operation
from gateway.core.errors import MethodNotAllowed
from gateway.core.ids import RequestIds
from gateway.edge.asgi import Receive, Scope, Send, header, read_body, send_bytes, send_stream, unless_disconnected
from gateway.edge.multipart import read_form
from gateway.generation.endpoints import answer_errors, answer_headers
from gateway.generation.media import MediaAnswer, MediaCall, MediaService
from gateway.generation.pipeline import Pipeline
from gateway.metering.pricing import format_usd
from gateway.observability.requests import RequestObserver
from gateway.protocol.audio import SpeechRequest, TranscriptionRequest, transcription_request
from gateway.protocol.decoding import decode_object, validate
from gateway.protocol.images import IMAGE_FIELDS, ImageRequest, VariationRequest, edit_request, variation_request


@dataclass(frozen=True, slots=True)
class Media:
    """What the image and audio endpoints use, built once when the app starts and handed to :func:`serve`
    with every request, as :class:`~gateway.generation.endpoints.Generation` is to the text endpoints.
    The two limits are settings that a reload leaves as they are."""

    pipeline: Pipeline
    service: MediaService
    observer: RequestObserver
    ids: RequestIds
    max_request_bytes: int
    max_upload_bytes: int


Serve = Callable[[Media, MediaCall, Scope, Receive], Awaitable[MediaAnswer]]


@dataclass(frozen=True, slots=True)
class MediaEndpoint:
    op: Operation
    answer: Serve
    multipart: bool
    # What the OpenAPI schema says it takes: the wire model of its JSON body or its form's text fields,
    # and a form's file fields (the first one required).
    model: type[ImageRequest] | type[VariationRequest] | type[SpeechRequest] | type[TranscriptionRequest]
    files: tuple[str, ...] = ()


async def _images(media: Media, call: MediaCall, scope: Scope, receive: Receive) -> MediaAnswer:
    principal = await media.pipeline.authenticate(header(scope, b"authorization"))
    raw = decode_object(await read_body(scope, receive, media.max_request_bytes))
    request = validate(raw, ImageRequest)
    return await unless_disconnected(
        receive, media.service.generate_images(principal, _named(call, request.model), request, raw)
    )


def _image_edits(parse: Callable[[Form], ImageRequest | VariationRequest]) -> Serve:
    """Edits and variations alike: a form of uploaded images, read by ``parse``, made into new images."""

    async def answer(media: Media, call: MediaCall, scope: Scope, receive: Receive) -> MediaAnswer:
        principal = await media.pipeline.authenticate(header(scope, b"authorization"))
        form = await read_form(scope, receive, media.max_upload_bytes)
        request = parse(form)
        return await unless_disconnected(
            receive, media.service.edit_images(principal, _named(call, request.model), request, form)
        )

    return answer


async def _transcriptions(media: Media, call: MediaCall, scope: Scope, receive: Receive) -> MediaAnswer:
    principal = await media.pipeline.authenticate(header(scope, b"authorization"))
    form = await read_form(scope, receive, media.max_upload_bytes)
    request = transcription_request(form)
    return await unless_disconnected(
        receive, media.service.transcribe(principal, _named(call, request.model), request, form)
    )


async def _speech(media: Media, call: MediaCall, scope: Scope, receive: Receive) -> MediaAnswer:
    principal = await media.pipeline.authenticate(header(scope, b"authorization"))
    raw = decode_object(await read_body(scope, receive, media.max_request_bytes))
    request = validate(raw, SpeechRequest)
    return await unless_disconnected(receive, media.service.speak(principal, _named(call, request.model), request, raw))


def _named(call: MediaCall, model: str) -> MediaCall:
    return MediaCall(call.request_id, call.op, model, call.started)


ENDPOINTS = {
    "/v1/images/generations": MediaEndpoint(Operation.IMAGES, _images, False, ImageRequest),
    "/v1/images/edits": MediaEndpoint(
        Operation.IMAGE_EDITS, _image_edits(edit_request), True, ImageRequest, (*IMAGE_FIELDS, "mask")
    ),
    "/v1/images/variations": MediaEndpoint(
        Operation.IMAGE_VARIATIONS, _image_edits(variation_request), True, VariationRequest, ("image",)
    ),
    "/v1/audio/transcriptions": MediaEndpoint(
        Operation.TRANSCRIPTIONS, _transcriptions, True, TranscriptionRequest, ("file",)
    ),
    "/v1/audio/translations": MediaEndpoint(
        Operation.TRANSLATIONS, _transcriptions, True, TranscriptionRequest, ("file",)
    ),
    "/v1/audio/speech": MediaEndpoint(Operation.SPEECH, _speech, False, SpeechRequest),
}


def endpoint_for(scope: Scope) -> MediaEndpoint | None:
    return ENDPOINTS.get(scope["path"]) if scope["type"] == "http" else None


async def serve(media: Media, endpoint: MediaEndpoint, scope: Scope, receive: Receive, send: Send) -> None:
    await answer_errors(
        media, scope, send, lambda rid, started, answer: _serve(media, endpoint, rid, started, scope, receive, answer)
    )


async def _serve(
    media: Media,
    endpoint: MediaEndpoint,
    request_id: str,
    started: float,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    if scope["method"] != "POST":
        raise MethodNotAllowed(f"Method {scope['method']} is not allowed on {scope['path']}")
    done = await endpoint.answer(media, MediaCall(request_id, endpoint.op, "", started), scope, receive)
    headers = answer_headers(media, request_id, done.deployment, started, done.upstream_seconds)
    headers["x-tollgate-cost-usd"] = format_usd(done.cost_micros)
    headers.update(done.headers)
    content_type = done.content_type.encode("latin-1")
    if done.chunks is not None:
        await send_stream(send, receive, done.chunks, headers, content_type)
    else:
        await send_bytes(send, 200, done.body, headers, content_type)
