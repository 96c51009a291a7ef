"""A local fake of AWS Bedrock Runtime's Converse API that speaks its wire format.

It checks what AWS checks: the Signature Version 4 of every request, recomputed with botocore
from the known test keys (a wrong key, secret, scope, token or a stale date is a 403, as AWS
answers it); the body against Bedrock Runtime's own service model (tests/fakes/bedrock_schema.py);
and the conversation rules Converse adds (a user turn first, alternating roles, no blank text,
toolResult blocks answering the previous turn's toolUse blocks, a toolConfig whenever tool blocks
appear). Errors are AWS's: ``{"message"}`` with the exception in ``x-amzn-ErrorType``. Streams are
real event-stream frames (tests/fakes/bedrock_eventstream.py). It counts one token per word.

The answer echoes the last user text (``echo: <text>``) or the tool results it was given; it calls
the first tool when ``toolChoice`` is ``any``/``tool``, or under ``auto`` when the text contains
``[[use_tool]]``. A ``cachePoint`` caches the prefix before it: written once, then read.

Model ids: :data:`MODEL` and :data:`PROFILE_ARN` answer; :data:`RETIRED_MODEL` is a 404
``ResourceNotFoundException``; any other id a 400 ``ValidationException``. Fault triggers in the
last user text: ``[[throttle]]`` (429 ThrottlingException), ``[[timeout]]`` (408
ModelTimeoutException), ``[[unavailable]]`` (503 ServiceUnavailableException), ``[[too_long]]``
(400 ValidationException "Input is too long"); in streams ``[[stream_exception]]`` (a
throttlingException frame after the first delta), ``[[bad_crc]]`` (the first delta's CRC damaged),
``[[break_stream]]`` (connection cut), ``[[truncate_stream]]`` (no metadata event), ``[[slow]]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.fakes import bedrock_eventstream as frames
from tests.fakes.bedrock_conversation import ApiError, answer, check_conversation, last_user_text
from tests.fakes.bedrock_schema import SchemaError, validate
from tests.fakes.served import serve_here

ACCESS_KEY = "AKIAFAKEBEDROCK00001"
SECRET_KEY = "fake/Secret+Key/for/the/bedrock/fake/00"
REGION = "us-east-1"
MODEL = "anthropic.claude-fake-v1:0"
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-fake-v1:0"
RETIRED_MODEL = "anthropic.claude-retired-v1:0"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;\-]+), Signature=([0-9a-f]{64})$"
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_FAULTS = {
    "[[throttle]]": ApiError(429, "ThrottlingException", "Too many requests, please wait before trying again."),
    "[[timeout]]": ApiError(408, "ModelTimeoutException", "Model has timed out in processing the request."),
    "[[unavailable]]": ApiError(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
    "[[too_long]]": ApiError(400, "ValidationException", "Input is too long for requested model."),
}


@dataclass
class ReceivedRequest:
    path: str
    model_id: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeBedrock:
    """The running fake: its endpoint URL, the keys it accepts, and what it observed."""

    endpoint_url: str = ""
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    session_token: str | None = None
    region: str = REGION
    requests: list[ReceivedRequest] = field(default_factory=list)
    rejected_signatures: int = 0
    disconnects: int = 0
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    cached_prefixes: set[str] = field(default_factory=set)
    _counter: int = 0

    def next_id(self) -> str:
        self._counter += 1
        return f"00000000-0000-4000-8000-{self._counter:012d}"


def build_app(fake: FakeBedrock) -> web.Application:
    app = web.Application()
    app.router.add_post(r"/model/{model_id:.+}/converse", functools.partial(_converse, fake, stream=False))
    app.router.add_post(r"/model/{model_id:.+}/converse-stream", functools.partial(_converse, fake, stream=True))
    return app


@contextlib.asynccontextmanager
async def running_fake_bedrock(*, session_token: str | None = None) -> AsyncIterator[FakeBedrock]:
    """Serve the fake on 127.0.0.1 on a free port for the duration of the block."""
    fake = FakeBedrock(session_token=session_token)
    async with serve_here(build_app(fake)) as url:
        fake.endpoint_url = url
        yield fake


def _error_response(fake: FakeBedrock, error: ApiError) -> web.Response:
    headers = {
        "x-amzn-ErrorType": f"{error.name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": fake.next_id(),
    }
    return web.json_response({"message": error.message}, status=error.status, headers=headers)


async def _converse(fake: FakeBedrock, request: web.Request, *, stream: bool) -> web.StreamResponse:
    raw = await request.read()
    model_id = request.match_info["model_id"]
    try:
        body: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        body = None
    fake.requests.append(ReceivedRequest(request.path, model_id, dict(request.headers), body))
    try:
        _verify_signature(fake, request, raw)
        _check_model(model_id)
        validate("ConverseStream" if stream else "Converse", body)
        check_conversation(body)
        text = last_user_text(body)
        for trigger, fault in _FAULTS.items():
            if trigger in text:
                raise fault
        reply = answer(body, fake.cached_prefixes)
    except SchemaError as error:
        return _error_response(fake, ApiError(400, "ValidationException", str(error)))
    except ApiError as error:
        return _error_response(fake, error)
    if stream:
        return await _stream(fake, request, reply, text)
    return web.json_response(reply, headers={"x-amzn-RequestId": fake.next_id()})


def _check_model(model_id: str) -> None:
    if model_id == RETIRED_MODEL:
        raise ApiError(404, "ResourceNotFoundException", "This model version has reached the end of its life.")
    if model_id not in (MODEL, PROFILE_ARN):
        raise ApiError(400, "ValidationException", "The provided model identifier is invalid.")


def _verify_signature(fake: FakeBedrock, request: web.Request, body: bytes) -> None:
    """Recompute the request's SigV4 signature from the headers it says it signed, as AWS does."""
    try:
        _check_signature(fake, request, body)
    except ApiError:
        fake.rejected_signatures += 1
        raise


def _check_signature(fake: FakeBedrock, request: web.Request, body: bytes) -> None:
    authorization = request.headers.get("authorization")
    if authorization is None:
        raise ApiError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization)
    if match is None:
        raise ApiError(403, "IncompleteSignatureException", "Authorization header requires valid parts.")
    key, day, region, service, signed, signature = match.groups()
    if key != fake.access_key:
        raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if fake.session_token is not None and request.headers.get("x-amz-security-token") != fake.session_token:
        raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if (region, service) != (fake.region, "bedrock"):
        raise ApiError(403, "InvalidSignatureException", "Credential should be scoped to a valid region and service.")
    names = signed.split(";")
    stamp = request.headers.get("x-amz-date", "")
    if "host" not in names or "x-amz-date" not in names or not stamp.startswith(day):
        raise ApiError(403, "InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed, on the scope's day.")
    _check_clock(stamp)
    signed_request = AWSRequest(
        method=request.method,
        url=f"http://{request.host}{request.raw_path}",
        data=body,
        headers={name: request.headers.get(name, "") for name in names},
    )
    signed_request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(fake.access_key, fake.secret_key, fake.session_token), service, region)
    expected = signer.signature(
        signer.string_to_sign(signed_request, signer.canonical_request(signed_request)), signed_request
    )
    if not hmac.compare_digest(expected, signature):
        raise ApiError(403, "InvalidSignatureException", _MISMATCH)


def _check_clock(stamp: str) -> None:
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise ApiError(403, "IncompleteSignatureException", "Date must be in ISO-8601 'basic format'.") from exc
    if abs((datetime.now(UTC) - signed_at).total_seconds()) > 300:
        raise ApiError(403, "InvalidSignatureException", f"Signature expired: {stamp} is outside five minutes of now.")


def _stream_frames(reply: dict[str, Any]) -> list[bytes]:
    """The ConverseStream events for a Converse answer, as Bedrock orders them."""
    events = [frames.event("messageStart", {"role": "assistant"}, padding=7)]
    for index, block in enumerate(reply["output"]["message"]["content"]):
        if "text" in block:
            pieces = [piece for piece in re.findall(r"\S*\s*", block["text"]) if piece]
            deltas = [{"text": piece} for piece in pieces]
        else:
            tool = block["toolUse"]
            start = {"toolUse": {"toolUseId": tool["toolUseId"], "name": tool["name"]}}
            events.append(frames.event("contentBlockStart", {"start": start, "contentBlockIndex": index}, padding=3))
            arguments = msgspec.json.encode(tool["input"]).decode()
            third = max(1, len(arguments) // 3)
            deltas = [{"toolUse": {"input": arguments[i : i + third]}} for i in range(0, len(arguments), third)]
        for number, delta in enumerate(deltas):
            data = {"delta": delta, "contentBlockIndex": index}
            events.append(frames.event("contentBlockDelta", data, padding=number + 11))
        events.append(frames.event("contentBlockStop", {"contentBlockIndex": index}, padding=5))
    events.append(frames.event("messageStop", {"stopReason": reply["stopReason"]}, padding=9))
    metadata = {"usage": reply["usage"], "metrics": {"latencyMs": reply["metrics"]["latencyMs"]}}
    events.append(frames.event("metadata", metadata))
    return events


async def _stream(fake: FakeBedrock, request: web.Request, reply: dict[str, Any], text: str) -> web.StreamResponse:
    headers = {"content-type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": fake.next_id()}
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    events = _stream_frames(reply)
    first_delta = 1 if reply["stopReason"] != "tool_use" else 2
    try:
        for position, data in enumerate(events):
            if position == len(events) - 1 and "[[truncate_stream]]" in text:
                break
            await response.write(frames.corrupted(data) if position == first_delta and "[[bad_crc]]" in text else data)
            if "[[slow]]" in text:
                await asyncio.sleep(0.02)
            if position == first_delta and "[[stream_exception]]" in text:
                await response.write(frames.exception("throttlingException", "Too many tokens, please wait."))
                break
            if position == first_delta and "[[break_stream]]" in text:
                assert request.transport is not None
                request.transport.close()  # cut the connection inside the chunked body
                return response
    except ConnectionResetError:  # the client went away: what a closed stream iterator must cause
        fake.disconnects += 1
        fake.disconnected.set()
        return response
    await response.write_eof()
    return response
