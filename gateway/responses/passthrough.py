"""Responses requests passed through to deployments that serve ``/v1/responses`` themselves.

The client's body goes upstream as it came (unknown fields kept; the router swaps the model name),
except what the gateway keeps for itself: ``previous_response_id`` is resolved here and its turns
sent as ``input``, and the upstream is told ``store: false`` (responses are stored per customer in
the gateway's database, so every replica and every backend can chain them). The answer keeps the
upstream's shape; its id becomes the gateway's (``resp_…``, as the translated answers' ids), and
``store`` and ``previous_response_id`` say what the client asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from backends.base import JSON
from backends.responses_wire import CARRIES_RESPONSE
from gateway.edge import sse
from gateway.protocol.responses import ResponseRequest
from gateway.responses.keeping import Keep
from gateway.routing.responses_relay import ResponsesRelay

# The events after which the response is finished and stored.
_KEPT = frozenset({"response.completed", "response.incomplete"})


def upstream_body(raw: JSON, context: list[JSON], given: list[JSON]) -> JSON:
    """The body sent upstream: ``context`` (the turns ``previous_response_id`` carries) before the input."""
    body = {key: value for key, value in raw.items() if key != "previous_response_id"}
    if context:
        body["input"] = [*context, *given]
    body["store"] = False
    return body


def as_asked(response: JSON, response_id: str, request: ResponseRequest) -> JSON:
    """The upstream's response as the client sees it: the gateway's id, and what the client asked."""
    response["id"] = response_id
    response["store"] = bool(request.store)
    response["previous_response_id"] = request.previous_response_id
    return response


class PassedEvents:
    """The relayed event stream, with each response object renamed and the finished one stored
    before its event leaves (one that could not be stored says ``store: false``)."""

    def __init__(self, relay: ResponsesRelay, response_id: str, request: ResponseRequest, keep: Keep) -> None:
        self._relay = relay
        self._response_id = response_id
        self._request = request
        self._keep = keep

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for event in self._relay.events():
            kind = event["type"]
            if kind in CARRIES_RESPONSE:
                response = as_asked(event["response"], self._response_id, self._request)
                if kind in _KEPT:
                    event["response"] = await self._keep(response)
            yield sse.named_event(kind, event)
