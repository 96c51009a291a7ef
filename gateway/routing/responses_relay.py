"""Relaying a Responses event stream passed through from an upstream that serves ``/v1/responses``.

Events go to the client one by one, as the upstream sent them, with the public model name. The
stream is metered once: with the usage ``response.completed`` (or ``.incomplete``) carries, priced
before that event leaves and given its ``cost``. An upstream failure after the first event ends the
stream with ``error`` then ``response.failed``, as OpenAI's does; a client that leaves is billed the
prompt and the text generated up to then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from backends.base import JSON, TokenCounter
from backends.responses_wire import CARRIES_RESPONSE
from gateway.core.errors import TollgateError
from gateway.edge import sse
from gateway.metering.outcome import Outcome
from gateway.metering.pricing import usd
from gateway.routing.catalog import Route
from gateway.routing.relay import Finish, MeteredStream

# The events after which the response is finished and its usage is known.
_METERED = frozenset({"response.completed", "response.incomplete"})


class ResponsesRelay(MeteredStream):
    """Iterate :meth:`events` for the events (the Responses service stores the finished response
    on the way), or the relay itself for the SSE bytes."""

    def __init__(
        self,
        route: Route,
        events: AsyncIterator[JSON],
        first: JSON,
        *,
        tokens: TokenCounter,
        prompt_tokens: Callable[[], int],
        finish: Finish,
        started: float,
    ) -> None:
        super().__init__(
            route, events, first, tokens=tokens, prompt_tokens=prompt_tokens, finish=finish, started=started
        )
        self._response: JSON = {}  # the latest response object seen, for a `response.failed`
        self._sequence = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for event in self.events():
            yield sse.named_event(event["type"], event)

    async def events(self) -> AsyncIterator[JSON]:
        try:
            event = self._first
            self._first = None
            while event is not None:
                yield self._relay(event)
                event = await anext(self._upstream, None)
            self._drained = True
            if not self._finished:  # a `response.failed` from the upstream ended it
                self._record(Outcome.UPSTREAM_ERROR, 502)
        except TollgateError as exc:
            self._record(Outcome.UPSTREAM_ERROR, exc.http_status)
            for failure in self._failure(exc):
                yield failure
        finally:
            await self._close()

    def _relay(self, event: JSON) -> JSON:
        kind = event["type"]
        self._sequence = int(event.get("sequence_number") or self._sequence) + 1
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self._text.append(event["delta"])
        if kind in CARRIES_RESPONSE:
            response: JSON = event["response"]
            response["model"] = self.route.public_model
            self._response = response
            if kind in _METERED:
                usage = response.get("usage")
                if not isinstance(usage, dict):
                    usage = response["usage"] = self._usage()
                cost = self._record(Outcome.OK, 200, usage)
                usage["cost"] = usd(cost)
        return event

    def _usage(self) -> JSON:
        """Usage when the upstream reports none: the prompt and the text sent so far, counted here."""
        prompt, output = self._counted()
        return {"input_tokens": prompt, "output_tokens": output, "total_tokens": prompt + output}

    def _failure(self, exc: TollgateError) -> list[JSON]:
        envelope: Any = exc.envelope()["error"]
        error = {"type": "error", "code": envelope.get("code"), "message": envelope.get("message"), "param": None}
        failed = {**self._response, "status": "failed", "error": {"code": "server_error", "message": error["message"]}}
        events = [{**error, "sequence_number": self._sequence}]
        if self._response:
            events.append({"type": "response.failed", "sequence_number": self._sequence + 1, "response": failed})
        return events
