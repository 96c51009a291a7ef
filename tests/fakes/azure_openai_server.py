"""A local fake of Azure OpenAI's data-plane inference API that speaks its wire format.

Shapes follow Azure's REST reference: ``POST /openai/deployments/{deployment}/{chat/completions,
completions,embeddings}?api-version=...``, the key in the ``api-key`` header (or a Microsoft Entra
token as ``Authorization: Bearer``), answers in OpenAI's shapes plus Azure's content-filter
annotations (``prompt_filter_results``, per choice ``content_filter_results``; in a stream a first
chunk with no choices that carries only the prompt's results, and an annotation-only chunk from the
asynchronous filter), and errors as ``{"error": {"code", "message", ...}}`` with no ``type``.

It answers ``echo: <the last user text>``, or the tool results it was given, counting a token a word.
It calls the first tool when ``tool_choice`` forces one. Triggers in the last user text:

- ``[[content_filter]]``: HTTP 400 ``content_filter`` with ``innererror.content_filter_result``
- ``[[filtered_completion]]``: HTTP 200, the completion cut with ``finish_reason: content_filter``
- ``[[rate_limit]]``: HTTP 429 with ``retry-after: 7`` (code ``"429"``, as Azure says it)
- ``[[server_error]]``: HTTP 500 ``InternalServerError``
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]
API_KEY = "azure-fake-key-0123456789abcdef"
ENTRA_TOKEN = "entra-fake-access-token"
DEPLOYMENTS = {"gpt4o-prod": "gpt-4o-2024-08-06", "embed-prod": "text-embedding-3-small"}
API_VERSIONS = ("2024-06-01", "2024-10-21", "2025-01-01-preview")
RETRY_AFTER = "7"
_SAFE = {"filtered": False, "severity": "safe"}
_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: JSON


@dataclass
class FakeAzureOpenAI:
    """The running fake: what it observed. ``endpoint`` is set once it serves."""

    endpoint: str = ""
    requests: list[Received] = field(default_factory=list)


class AzureError(Exception):
    def __init__(self, http_status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.headers = http_status, dict[str, str]()
        self.body = {"error": {"code": code, "message": message, **extra}}


def _filter_results(flagged: str | None = None) -> JSON:
    return {c: ({"filtered": True, "severity": "high"} if c == flagged else _SAFE) for c in _CATEGORIES}


def _check(request: web.Request, fake: FakeAzureOpenAI, body: JSON) -> str:
    """Authenticate, check the api-version and the deployment; returns the deployment's model."""
    fake.requests.append(Received(request.path, dict(request.query), dict(request.headers), body))
    keyed = request.headers.get("api-key") == API_KEY
    if not keyed and request.headers.get("authorization") != f"Bearer {ENTRA_TOKEN}":
        raise AzureError(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
            "for an active subscription and use a correct regional API endpoint for your resource.",
        )
    if request.query.get("api-version") not in API_VERSIONS:
        raise AzureError(404, "404", "Resource not found")
    deployment = request.match_info["deployment"]
    if deployment not in DEPLOYMENTS:
        raise AzureError(
            404,
            "DeploymentNotFound",
            "The API deployment for this resource does not exist. If you created the deployment within the last "
            "5 minutes, please wait a moment and try again.",
        )
    return DEPLOYMENTS[deployment]


def _last_text(body: JSON) -> str:
    messages = body.get("messages") or []
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content") if users else body.get("prompt", "")
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def _faults(text: str) -> None:
    if "[[content_filter]]" in text:
        raise AzureError(
            400,
            "content_filter",
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. "
            "Please modify your prompt and retry. To learn more about our content filtering policies please read "
            "our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
            param="prompt",
            status=400,
            innererror={"code": "ResponsibleAIPolicyViolation", "content_filter_result": _filter_results("violence")},
        )
    if "[[rate_limit]]" in text:
        error = AzureError(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
            f"exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after {RETRY_AFTER} "
            "seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the "
            "default rate limit.",
        )
        error.headers = {"retry-after": RETRY_AFTER}
        raise error
    if "[[server_error]]" in text:
        raise AzureError(500, "InternalServerError", "The service is temporarily unable to process your request.")


def _reply(body: JSON) -> tuple[str, JSON | None, str]:
    """The answer's text, its tool call (if one is forced) and its finish reason."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    messages = body.get("messages") or []
    if tools and (choice == "required" or isinstance(choice, dict)) and messages[-1].get("role") != "tool":
        name = choice["function"]["name"] if isinstance(choice, dict) else tools[0]["function"]["name"]
        call = {"id": "call_azure_1", "type": "function", "function": {"name": name, "arguments": '{"city":"Paris"}'}}
        return "", call, "tool_calls"
    results = [str(m.get("content")) for m in messages if m.get("role") == "tool"]
    text = "echo: " + (" ".join(results) if results else _last_text(body))
    if "[[filtered_completion]]" in text:
        return text.split("[[filtered_completion]]")[0].rstrip(), None, "content_filter"
    return text, None, "stop"


def _usage(body: JSON, completion: str) -> JSON:
    messages = body.get("messages")
    source = [str(m.get("content") or "") for m in messages] if messages else [str(body.get("prompt", ""))]
    prompt = sum(len(s.split()) for s in source)
    output = len(completion.split())
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output}


def _head(model: str, kind: str) -> JSON:
    return {"id": "chatcmpl-azure0001", "object": kind, "created": int(time.time()), "model": model}


async def chat(fake: FakeAzureOpenAI, request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = _check(request, fake, body)
    _faults(_last_text(body))
    text, call, finish = _reply(body)
    if body.get("stream"):
        return await _stream(request, body, model, text, call, finish)
    message: JSON = {"role": "assistant", "content": None if call else text, "refusal": None}
    if call:
        message["tool_calls"] = [call]
    flagged = "violence" if finish == "content_filter" else None
    answer = {
        **_head(model, "chat.completion"),
        "system_fingerprint": "fp_azure",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _filter_results()}],
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": finish,
                "content_filter_results": _filter_results(flagged),
            }
        ],
        "usage": _usage(body, call["function"]["arguments"] if call else text),
    }
    return web.json_response(answer)


def _chunks(body: JSON, model: str, text: str, call: JSON | None, finish: str) -> Iterator[JSON]:
    yield {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": _filter_results()}],
    }
    head = {**_head(model, "chat.completion.chunk"), "system_fingerprint": "fp_azure"}
    yield {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    words = text.split(" ") if text else []
    for i, word in enumerate(words):
        delta = {"content": word if i == 0 else f" {word}"}
        yield {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    if call:
        yield {
            **head,
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, **call}]}, "finish_reason": None}],
        }
    # The asynchronous filter's verdict on what was streamed: no delta, only annotations.
    offsets = {"check_offset": 0, "start_offset": 0, "end_offset": len(text)}
    annotation = {"index": 0, "finish_reason": None, "content_filter_results": _filter_results()}
    yield {"choices": [{**annotation, "content_filter_offsets": offsets}], "created": 0, "id": "", "model": ""}
    yield {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {**head, "choices": [], "usage": _usage(body, call["function"]["arguments"] if call else text)}


async def _stream(
    request: web.Request, body: JSON, model: str, text: str, call: JSON | None, finish: str
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    for chunk in _chunks(body, model, text, call, finish):
        await response.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    await response.write(b"data: [DONE]\n\n")
    return response


async def completions(fake: FakeAzureOpenAI, request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = _check(request, fake, body)
    _faults(_last_text(body))
    text = "echo: " + _last_text(body)
    return web.json_response(
        {
            **_head(model, "text_completion"),
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": "stop",
                    "content_filter_results": _filter_results(),
                }
            ],
            "usage": _usage(body, text),
        }
    )


async def embeddings(fake: FakeAzureOpenAI, request: web.Request) -> web.StreamResponse:
    body = await request.json()
    model = _check(request, fake, body)
    items = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"object": "embedding", "index": i, "embedding": [0.5, -0.25 * i, 0.125]} for i in range(len(items))]
    tokens = sum(len(str(item).split()) for item in items)
    return web.json_response(
        {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    )


async def models(request: web.Request) -> web.StreamResponse:
    if request.query.get("api-version") not in API_VERSIONS:
        raise AzureError(404, "404", "Resource not found")
    listed = [{"id": m, "object": "model", "status": "succeeded"} for m in DEPLOYMENTS.values()]
    return web.json_response({"object": "list", "data": listed})


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except AzureError as exc:
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)
    return response


def build_app(fake: FakeAzureOpenAI) -> web.Application:
    app = web.Application(middlewares=[_errors])
    prefix = "/openai/deployments/{deployment}"
    app.add_routes(
        [
            web.post(f"{prefix}/chat/completions", functools.partial(chat, fake)),
            web.post(f"{prefix}/completions", functools.partial(completions, fake)),
            web.post(f"{prefix}/embeddings", functools.partial(embeddings, fake)),
            web.get("/openai/models", models),
        ]
    )
    return app
