"""AWS Bedrock's Converse API behind the OpenAI chat completions contract.

``POST /model/{modelId}/converse`` answers JSON; ``/converse-stream`` answers AWS's binary event
stream. Every request is signed with Signature Version 4 by botocore (``SigV4Auth`` over an
``AWSRequest``), then sent as signed through the gateway's shared HTTP client. The translation
lives in :mod:`backends.bedrock_wire` and :mod:`backends.bedrock_stream`; this module does the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from urllib.parse import quote

import botocore.session
import msgspec
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials
from botocore.eventstream import EventStreamBuffer, ParserError

from backends.base import JSON, BackendContext, Operation
from backends.bedrock_stream import StreamTranslator, event_of
from backends.bedrock_wire import bedrock_error, error_name, to_chat_completion, to_converse_request
from backends.http import answered, decode_json, mapped_transport_errors, probe, status_error
from backends.http_exchange import Response
from backends.openai_compatible import Timeouts
from gateway.core.errors import UnsupportedOperation, UpstreamError, UpstreamProtocolError, UpstreamStatusError

SIGNING_NAME = "bedrock"  # the service name in the credential scope, though the host says bedrock-runtime


class BedrockConfig(msgspec.Struct, tag="bedrock", forbid_unknown_fields=True):
    """``aws_region`` is where Bedrock is called (``us-east-1``); ``region`` is, as for every
    backend, the routing region the deployment is placed in. The keys may come from the config
    (``${AWS_ACCESS_KEY_ID}``...) or, left out, from botocore's credential chain (environment,
    shared files, container or instance roles). ``endpoint_url`` replaces the regional endpoint
    (a VPC endpoint, or a local fake)."""

    aws_region: str
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    endpoint_url: str | None = None
    timeouts: Timeouts = msgspec.field(default_factory=Timeouts)
    region: str | None = None

    def __post_init__(self) -> None:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("access_key_id and secret_access_key go together: give both, or neither")


class BedrockBackend:
    def __init__(
        self,
        name: str,
        ctx: BackendContext,
        *,
        aws_region: str,
        credentials: Credentials | None = None,
        endpoint_url: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.name = name
        self._http = ctx.http
        self._region = aws_region
        self._credentials = credentials
        self._endpoint = (endpoint_url or f"https://bedrock-runtime.{aws_region}.amazonaws.com").rstrip("/")
        self._timeout = (timeouts or Timeouts()).to_client()
        self._lookup = asyncio.Lock()

    @classmethod
    def from_config(cls, name: str, config: BedrockConfig, ctx: BackendContext) -> BedrockBackend:
        credentials = None
        if config.access_key_id is not None and config.secret_access_key is not None:
            credentials = Credentials(config.access_key_id, config.secret_access_key, config.session_token)
        return cls(
            name,
            ctx,
            aws_region=config.aws_region,
            credentials=credentials,
            endpoint_url=config.endpoint_url,
            timeouts=config.timeouts,
        )

    def supports(self, op: Operation) -> bool:
        return op is Operation.CHAT

    def _prepare(self, op: Operation, body: JSON, action: str) -> tuple[str, bytes]:
        """The URL and the body bytes of one call; the model id is a URL path segment, encoded as
        botocore encodes it (an inference profile's ARN holds ``:`` and ``/``)."""
        if not self.supports(op):
            raise UnsupportedOperation(f"backend {self.name} (bedrock) serves chat completions only")
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise UnsupportedOperation(f"backend {self.name} (bedrock) needs a model id")
        payload = msgspec.json.encode(to_converse_request(body))
        return f"{self._endpoint}/model/{quote(model, safe='-_.~')}/{action}", payload

    async def request(self, op: Operation, body: JSON) -> JSON:
        url, payload = self._prepare(op, body, "converse")
        async with self._exchange(url, payload, "application/json") as response:
            with mapped_transport_errors(self.name):
                content = await response.read()
            request_id = response.headers.get("x-amzn-requestid", "")
        answer = decode_json(self.name, content)
        return to_chat_completion(
            answer, completion_id=f"chatcmpl-{request_id}", model=body.get("model"), created=int(time.time())
        )

    async def stream(self, op: Operation, body: JSON) -> AsyncIterator[JSON]:
        url, payload = self._prepare(op, body, "converse-stream")
        async with self._exchange(url, payload, "application/vnd.amazon.eventstream") as response:
            request_id = response.headers.get("x-amzn-requestid", "")
            translator = StreamTranslator(
                completion_id=f"chatcmpl-{request_id}", model=body.get("model"), created=int(time.time())
            )
            frames = EventStreamBuffer()
            with mapped_transport_errors(self.name):
                async for data in response.chunks():
                    frames.add_data(data)
                    for chunk in self._translate(frames, translator):
                        yield chunk
                    if translator.done:
                        return
        raise UpstreamProtocolError(f"upstream {self.name} ended the event stream before its metadata")

    def _translate(self, frames: EventStreamBuffer, translator: StreamTranslator) -> Iterator[JSON]:
        """The chunks of the complete frames buffered, each as soon as it is translated: those
        before an exception frame still reach the client."""
        try:
            for message in frames:
                yield from translator.feed(*event_of(message))
        except ParserError as exc:  # a bad prelude, length or CRC: the frames cannot be trusted
            raise UpstreamProtocolError(f"upstream {self.name} sent a broken event-stream frame: {exc}") from exc

    @contextlib.asynccontextmanager
    async def _exchange(self, url: str, payload: bytes, accept: str) -> AsyncIterator[Response]:
        """POST the signed request; yield the response when it is a success, else raise the mapped
        error. Leaving the block early drops the connection: how the upstream learns of it."""
        headers = await self._signed_headers(url, payload, accept)
        with mapped_transport_errors(self.name):
            # The path goes out byte for byte as it was signed (the %3A of a model id such as
            # ``...-v1:0`` stays encoded).
            response = await self._http.request("POST", url, headers=headers, body=payload, timeout=self._timeout)
        async with answered(self.name, response, self._refused) as answer:
            yield answer

    def _refused(self, status: int, headers: Mapping[str, str], body: bytes) -> UpstreamStatusError:
        return bedrock_error(status_error(self.name, status, headers, body), error_name(headers, body))

    async def _signed_headers(self, url: str, payload: bytes, accept: str) -> dict[str, str]:
        credentials = await self._frozen_credentials()
        request = AWSRequest(
            method="POST", url=url, data=payload, headers={"content-type": "application/json", "accept": accept}
        )
        SigV4Auth(credentials, SIGNING_NAME, self._region).add_auth(request)
        return dict(request.headers.items())

    async def _frozen_credentials(self) -> ReadOnlyCredentials:
        """The keys to sign with now. Keys from the chain are looked up on first use, and refreshed
        (an assumed role's, an instance role's) when due, off the event loop: both may do I/O."""
        if self._credentials is None:
            async with self._lookup:
                if self._credentials is None:
                    self._credentials = await asyncio.to_thread(_credential_chain)
        if self._credentials is None:
            raise UpstreamError(
                f"backend {self.name} (bedrock) found no AWS credentials in its config or the credential chain",
                code="upstream_auth_failed",
            )
        if isinstance(self._credentials, RefreshableCredentials) and self._credentials.refresh_needed():
            return await asyncio.to_thread(self._credentials.get_frozen_credentials)
        return self._credentials.get_frozen_credentials()

    async def ready(self) -> bool:
        """Whether the endpoint answers at all: Bedrock has no unauthenticated health route."""
        return await probe(self._http, f"{self._endpoint}/", {})

    async def aclose(self) -> None:
        """The shared HTTP client belongs to the gateway's lifespan, not to the backend."""


def _credential_chain() -> Credentials | None:
    return botocore.session.get_session().get_credentials()
