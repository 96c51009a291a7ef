"""Images and audio on the same path as text: key, model, limits and credits, the router's chain of
deployments (retries on another replica, fallbacks, circuit breakers), one usage event.

Each request is refused before it is sent when it asks for something its model does not serve or
price, or uploads a file that is not what it claims: such a refusal (after the key and the model
are known) is metered as an ``invalid_request`` at no cost. Admission reserves the exact price
(image count and size, audio seconds read from the file, speech characters), so rate limits,
budgets and prepaid credits hold for every modality.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
import msgspec

from backends.base import JSON, Form, MediaBackend, Operation, Payload
from gateway.admission.service import Ticket
from gateway.core.errors import TollgateError, UnsupportedOperation, UpstreamProtocolError
from gateway.generation import media_checks
from gateway.generation.pipeline import Abandoned, Pipeline
from gateway.keys.principal import Principal
from gateway.metering.media_units import MediaUsage, image_price, media_cost_usd
from gateway.metering.meter import Metered
from gateway.metering.outcome import Outcome, cut_short
from gateway.metering.pricing import ModelRates, to_micros
from gateway.protocol.audio import SpeechRequest, TranscriptionRequest
from gateway.protocol.decoding import invalid
from gateway.protocol.images import ImageRequest, VariationRequest, image_files
from gateway.routing.catalog import Route
from gateway.routing.relay import upstream_body
from gateway.routing.router import Traits
from gateway.settings import MediaLimits

_NO_RATES = ModelRates()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MediaCall:
    request_id: str
    op: Operation
    model: str
    started: float  # perf_counter when the request arrived


@dataclass(slots=True)
class MediaAnswer:
    """A whole answer (JSON, or a transcript as text, SRT or WebVTT), or a speech stream."""

    content_type: str
    deployment: str
    cost_micros: int
    upstream_seconds: float
    body: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Opened:
    metered: Metered
    limits: MediaLimits
    rates: ModelRates
    traits: Traits


class MediaService:
    def __init__(self, pipeline: Pipeline, limits: Mapping[str, MediaLimits]) -> None:
        self.pipeline = pipeline
        self._limits = limits

    async def generate_images(
        self, principal: Principal, call: MediaCall, request: ImageRequest, raw: JSON
    ) -> MediaAnswer:
        opened = self._open(principal, call)
        with self._refusals(opened):
            request.check()
            wanted = media_checks.check_images(request, opened.limits, opened.rates.per_image)
        ticket = await self._admit(principal, call, opened, wanted)
        route, answer, cost, elapsed = await self._run(
            call,
            opened,
            ticket,
            lambda route: route.backend.request(call.op, upstream_body(raw, route)),
            lambda made: _images_made(made, wanted, opened.rates),
            asked=wanted,
        )
        encoded = msgspec.json.encode(answer)
        return MediaAnswer("application/json", route.deployment, cost, elapsed, encoded, headers=_headers(ticket))

    async def edit_images(
        self, principal: Principal, call: MediaCall, request: ImageRequest | VariationRequest, form: Form
    ) -> MediaAnswer:
        """An edit or a variation of uploaded images, priced per image made as a generation is."""
        opened = self._open(principal, call)
        with self._refusals(opened):
            request.check()
            media_checks.check_upload_size(form, opened.limits, call.model)
            images = image_files(form)
            if not images:
                raise invalid("image", "Missing required parameter: 'image'.", "missing_required_parameter")
            for upload in form.files:
                media_checks.check_image_file(upload, mask=upload.field == "mask")
            wanted = media_checks.check_images(request, opened.limits, opened.rates.per_image)
        ticket = await self._admit(principal, call, opened, wanted)
        route, answer, cost, elapsed = await self._run(
            call,
            opened,
            ticket,
            functools.partial(_upload, call.op, form),
            lambda made: _images_made(_decoded(made), wanted, opened.rates),
            asked=wanted,
        )
        return _whole(answer, route, cost, elapsed, ticket)

    async def transcribe(
        self, principal: Principal, call: MediaCall, request: TranscriptionRequest, form: Form
    ) -> MediaAnswer:
        opened = self._open(principal, call)
        with self._refusals(opened):
            upload = request.check(form, translation=call.op is Operation.TRANSLATIONS)
            media_checks.check_upload_size(form, opened.limits, call.model)
            info = await media_checks.read_audio(upload, opened.limits, call.model)
        heard = MediaUsage(audio_seconds=info.seconds)
        ticket = await self._admit(principal, call, opened, heard)
        route, answer, cost, elapsed = await self._run(
            call,
            opened,
            ticket,
            functools.partial(_upload, call.op, form),
            lambda _: heard,
            asked=heard,
        )
        return _whole(answer, route, cost, elapsed, ticket)

    async def speak(self, principal: Principal, call: MediaCall, request: SpeechRequest, raw: JSON) -> MediaAnswer:
        opened = self._open(principal, call)
        with self._refusals(opened):
            request.check(opened.limits.max_speech_characters)
        spoken = MediaUsage(characters=len(request.input))
        ticket = await self._admit(principal, call, opened, spoken)
        started = time.perf_counter()
        speech = functools.partial(_speech, call.op, raw)
        sending = self.pipeline.router.open_bytes(call.model, call.op, opened.traits, speech)
        # The client left before the first byte: billed as when it leaves later.
        route, first, chunks = await self.pipeline.routed(opened.metered, ticket, sending, _unsent(spoken))
        return MediaAnswer(
            request.media_type,
            route.deployment,
            self._price(principal, opened, spoken),  # exact: the characters are known before the first byte
            time.perf_counter() - started,
            chunks=self._relay_speech(opened, ticket, route.deployment, spoken, first, chunks),
            headers=_headers(ticket),
        )

    async def _relay_speech(
        self,
        opened: _Opened,
        ticket: Ticket | None,
        deployment: str,
        spoken: MediaUsage,
        first: bytes,
        chunks: AsyncIterator[bytes],
    ) -> AsyncIterator[bytes]:
        """Relay the audio and meter it once: at its end, at an upstream failure, or when the client left
        (billed in full: the upstream has been asked to speak every character) or shutdown cut it."""
        ended: tuple[Outcome, int] | None = None
        try:
            yield first
            async for chunk in chunks:
                yield chunk
            ended = Outcome.OK, 200
        except TollgateError as exc:
            ended = Outcome.UPSTREAM_ERROR, exc.http_status
            raise
        finally:
            outcome, status = ended or cut_short()
            self._finish(
                opened, ticket, deployment, status, outcome, spoken if outcome != Outcome.UPSTREAM_ERROR else None
            )
            # A client disconnect cancels this task; the upstream must still be closed.
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]

    def _open(self, principal: Principal, call: MediaCall) -> _Opened:
        """The pipeline's checks that refuse a request without metering it (the journal, the key, the
        model), and one of its own: the model's backend must offer images and audio."""
        streamed = call.op is Operation.SPEECH
        prepared = self.pipeline.prepare(
            principal, call.request_id, call.op, call.model, streamed=streamed, started=call.started
        )
        _media(prepared.route)
        rates = self.pipeline.rates(call.model) or _NO_RATES
        return _Opened(prepared.metered, self._limits.get(call.model, MediaLimits()), rates, prepared.traits)

    @contextlib.contextmanager
    def _refusals(self, opened: _Opened) -> Iterator[None]:
        try:
            yield
        except TollgateError as exc:
            self._finish(opened, None, None, exc.http_status, Outcome.INVALID_REQUEST)
            raise

    def _price(self, principal: Principal, opened: _Opened, usage: MediaUsage) -> int:
        return to_micros(media_cost_usd(opened.rates, usage), principal.markup_percent)

    async def _admit(self, principal: Principal, call: MediaCall, opened: _Opened, usage: MediaUsage) -> Ticket | None:
        return await self.pipeline.admit_priced(principal, call.request_id, self._price(principal, opened, usage))

    async def _run(
        self,
        call: MediaCall,
        opened: _Opened,
        ticket: Ticket | None,
        send: Callable[[Route], Awaitable[T]],
        used: Callable[[T], MediaUsage],
        *,
        asked: MediaUsage,
    ) -> tuple[Route, T, int, float]:
        """Send the request down the model's chain of deployments and meter it once; returns the
        deployment that answered, its answer, the cost and the upstream's time. An answer that cannot
        be read counts as that deployment's failure, so the next one is tried. Cancelled (the client
        left, or the server's shutdown grace ran out), it is billed what was ``asked``, as a speech
        stream the client leaves is: the upstream has the whole request and bills it."""

        async def once(route: Route) -> tuple[Route, T, MediaUsage]:
            answer = await send(route)
            return route, answer, used(answer)

        started = time.perf_counter()
        sending = self.pipeline.router.send(call.model, call.op, opened.traits, once)
        route, answer, usage = await self.pipeline.routed(opened.metered, ticket, sending, _unsent(asked))
        elapsed = time.perf_counter() - started
        return route, answer, self._finish(opened, ticket, route.deployment, 200, Outcome.OK, usage), elapsed

    def _finish(
        self,
        opened: _Opened,
        ticket: Ticket | None,
        deployment: str | None,
        status: int,
        outcome: Outcome,
        usage: MediaUsage | None = None,
    ) -> int:
        """Meter once; ``deployment`` is None for a request refused before it was sent."""
        media = usage or MediaUsage()
        return self.pipeline.finish(opened.metered, ticket, deployment, status, outcome, None, media=media).cost_micros


def _unsent(asked: MediaUsage) -> Callable[[], Abandoned]:
    """A media request cancelled while routed is billed what it asked for, naming no deployment."""
    return lambda: (None, None, asked)


def _upstream_form(form: Form, route: Route) -> Form:
    """The client's form as the upstream gets it: every field and file kept, the model name swapped."""
    fields = [(name, route.upstream_model if name == "model" else value) for name, value in form.fields]
    return Form(fields, form.files)


def _media(route: Route) -> MediaBackend:
    if not isinstance(route.backend, MediaBackend):
        raise UnsupportedOperation(f"The backend of '{route.public_model}' does not offer images or audio.")
    return route.backend


async def _upload(op: Operation, form: Form, route: Route) -> Payload:
    return await _media(route).upload(op, _upstream_form(form, route))


def _speech(op: Operation, raw: JSON, route: Route) -> AsyncIterator[bytes]:
    return _media(route).audio(op, upstream_body(raw, route))


def _headers(ticket: Ticket | None) -> dict[str, str]:
    return dict(ticket.headers) if ticket else {}


def _whole(answer: Payload, route: Route, cost: int, elapsed: float, ticket: Ticket | None) -> MediaAnswer:
    return MediaAnswer(answer.content_type, route.deployment, cost, elapsed, answer.body, headers=_headers(ticket))


def _decoded(answer: Payload) -> Any:
    try:
        return msgspec.json.decode(answer.body)
    except msgspec.DecodeError as exc:
        raise UpstreamProtocolError(f"the image answer is not JSON: {exc}") from exc


def _images_made(body: Any, wanted: MediaUsage, rates: ModelRates) -> MediaUsage:
    """The images the answer holds, priced by the size and quality it reports when those are priced
    (a model asked for ``auto`` says what it chose), else by what was asked."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise UpstreamProtocolError("the image answer has no 'data' list")
    size = body.get("size") or wanted.image_size
    quality = body.get("quality") or wanted.image_quality
    if image_price(rates.per_image, str(size), str(quality)) is None:
        size, quality = wanted.image_size, wanted.image_quality
    return MediaUsage(images=len(data), image_size=str(size), image_quality=str(quality))
