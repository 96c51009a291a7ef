"""``/v1/responses``: create (through the chat pipeline), retrieve, delete, list input items.

A create for a model whose deployments serve ``/v1/responses`` is passed through to them
(:mod:`gateway.responses.passthrough`); any other is translated into a chat completion. Either way it
goes through :class:`Pipeline` exactly as ``/v1/chat/completions`` does: admission, the exact cache,
routing and metering (as endpoint ``responses``) are chat's. With ``store`` (the default, as OpenAI's)
the response is kept per customer in the database, so every replica answers its retrieval and
chaining; another customer's id is unknown (404).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backends.base import JSON, Operation
from gateway.core.errors import NotFound
from gateway.generation.pipeline import Call, Pipeline
from gateway.keys.principal import Principal
from gateway.protocol.chat import ChatCompletionRequest
from gateway.protocol.decoding import invalid, validate
from gateway.protocol.limits import check_size
from gateway.protocol.responses import InputItemsQuery, ResponseRequest
from gateway.responses import answer, passthrough, repository, translate
from gateway.responses.events import ResponseEvents
from gateway.responses.keeping import Keep, Keeper, forget, shown
from gateway.routing.responses_relay import ResponsesRelay

_PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


@dataclass(slots=True)
class Created:
    """A created response: its ``body``, or for a stream its ``events``; and what the headers say."""

    deployment: str
    upstream_seconds: float
    body: JSON | None = None
    events: AsyncIterable[bytes] | None = None
    cost_micros: int = 0
    headers: dict[str, str] = field(default_factory=dict)


class ResponsesService:
    def __init__(self, pipeline: Pipeline, sessions: async_sessionmaker[AsyncSession], max_messages: int) -> None:
        self._pipeline = pipeline
        self._sessions = sessions
        self._max_messages = max_messages

    async def create(self, principal: Principal, request: ResponseRequest, call: Call) -> Created:
        """Answer ``request``; ``call`` carries the request's id, arrival, cache controls and raw body."""
        context = await self._context(principal, request.previous_response_id)
        given = translate.input_items(request)
        chat = translate.chat_body(request, context, given, request.extra(call.raw))
        self._check_size(chat)
        items = _stored_items(given, call.request_id)
        stream = bool(request.stream)
        keep: Keep = Keeper(self._sessions, principal, request, context, items) if request.store else forget
        if self._pipeline.router.table.catalog.serves_natively(request.model, Operation.RESPONSES):
            raw = passthrough.upstream_body(call.raw, context, given)
            call = msgspec.structs.replace(call, op=Operation.RESPONSES, model=request.model, raw=raw, stream=stream)
            return await self._passed(principal, request, call, keep)
        call = msgspec.structs.replace(
            call, op=Operation.CHAT, model=request.model, raw=chat, stream=stream, endpoint=Operation.RESPONSES.value
        )
        skeleton = answer.skeleton(request, call.request_id, request.model, int(time.time()))
        if stream:
            streaming = await self._pipeline.stream(principal, msgspec.structs.replace(call, wants_usage=True))
            events = ResponseEvents(streaming.relay, skeleton, call.request_id, keep)
            return Created(streaming.deployment, streaming.upstream_seconds, events=events, headers=streaming.headers)
        done = await self._pipeline.complete(principal, call)
        choice = (done.body.get("choices") or [{}])[0]
        reason = choice.get("finish_reason")
        output = answer.output_items(call.request_id, choice.get("message") or {}, reason)
        final = answer.finished(skeleton, output, reason, done.body.get("usage") or {})
        delivered = await keep(final)
        return Created(done.deployment, done.upstream_seconds, delivered, None, done.cost_micros, done.headers)

    async def _passed(self, principal: Principal, request: ResponseRequest, call: Call, keep: Keep) -> Created:
        """Pass the request through to a deployment that serves ``/v1/responses`` (gateway/responses/passthrough.py)."""
        response_id = answer.response_id(call.request_id)
        if call.stream:
            streaming = await self._pipeline.stream(principal, msgspec.structs.replace(call, wants_usage=True))
            assert isinstance(streaming.relay, ResponsesRelay)  # the pipeline relays a passed-through stream so
            events = passthrough.PassedEvents(streaming.relay, response_id, request, keep)
            return Created(streaming.deployment, streaming.upstream_seconds, events=events, headers=streaming.headers)
        done = await self._pipeline.complete(principal, call)
        final = passthrough.as_asked(done.body, response_id, request)
        delivered = await keep(final)
        return Created(done.deployment, done.upstream_seconds, delivered, None, done.cost_micros, done.headers)

    def _check_size(self, chat: JSON) -> None:
        """The chat request is valid (the translation guarantees it; checked as chat's are) and within
        ``max_messages``, said in the Responses API's words."""
        parsed = validate(chat, ChatCompletionRequest)
        if len(parsed.messages) > self._max_messages:
            raise invalid(
                "input",
                f"The conversation ('instructions', the turns carried by 'previous_response_id' and 'input') has "
                f"{len(parsed.messages)} messages; this gateway accepts at most {self._max_messages} (max_messages).",
                "too_many_messages",
            )
        check_size(parsed, max_messages=self._max_messages)

    async def _context(self, principal: Principal, previous_id: str | None) -> list[JSON]:
        """The conversation ``previous_response_id`` carries: that response's context, input and output."""
        if previous_id is None:
            return []
        async with self._sessions() as session:
            row = await repository.find(session, principal.customer_id, previous_id)
        if row is None:
            raise _not_found(previous_id, "previous_response_id")
        return [*row.context, *row.input_items, *row.body.get("output", [])]

    async def retrieve(self, principal: Principal, response_id: str) -> JSON:
        async with self._sessions() as session:
            row = await repository.find(session, principal.customer_id, response_id)
        if row is None:
            raise _not_found(response_id)
        return shown(row.body)

    async def delete(self, principal: Principal, response_id: str) -> JSON:
        async with self._sessions.begin() as session:
            if not await repository.remove(session, principal.customer_id, response_id):
                raise _not_found(response_id)
        return {"id": response_id, "object": "response", "deleted": True}

    async def input_items(self, principal: Principal, response_id: str, query: InputItemsQuery) -> JSON:
        """The items the response was generated from (the carried context, then its own input), a page
        at a time: ``after`` is the id of the last item of the page before."""
        async with self._sessions() as session:
            row = await repository.find(session, principal.customer_id, response_id)
        if row is None:
            raise _not_found(response_id)
        items = [*row.context, *row.input_items]
        if query.order == "desc":
            items.reverse()
        if query.after is not None:
            ids = [item.get("id") for item in items]
            items = items[ids.index(query.after) + 1 :] if query.after in ids else []
        page = items[: query.limit]
        first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
        return {"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": len(items) > len(page)}


def _stored_items(items: list[JSON], request_id: str) -> list[JSON]:
    """The input items as listed later: each with an id, a message's content as a list of parts."""
    suffix = request_id.removeprefix("req_")
    stored = []
    for index, item in enumerate(items):
        kind = item.get("type", "message")
        shown: dict[str, Any] = {
            "type": kind,
            **item,
            "id": item.get("id") or f"{_PREFIXES.get(kind, 'item')}_{suffix}_{index}",
        }
        if kind == "message" and isinstance(item.get("content"), str):
            part = "output_text" if item.get("role") == "assistant" else "input_text"
            shown["content"] = [{"type": part, "text": item["content"]}]
        if kind in _PREFIXES:
            shown.setdefault("status", "completed")
        stored.append(shown)
    return stored


def _not_found(response_id: str, param: str | None = None) -> NotFound:
    """One answer for an unknown id and another customer's: they must not differ."""
    return NotFound(f"Response with id '{response_id}' not found.", param=param)
