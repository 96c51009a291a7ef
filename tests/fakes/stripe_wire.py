"""Stripe's wire format, for the fake: v1 form bodies with nested keys, error envelopes, list pages.

v1 requests are ``application/x-www-form-urlencoded`` with brackets for nesting
(``metadata[k]=v``, ``line_items[0][price_data][currency]=usd``); v2 requests are JSON. Errors are
``{"error": {"type", "code", "message", "param"}}``; lists are ``{"object": "list", "data",
"has_more", "url"}`` paged by ``limit`` (1-100, default 10) and ``starting_after`` (an object id).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


class StripeFault(Exception):
    def __init__(self, status: int, message: str, *, kind: str = "invalid_request_error", **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.extra = status, message, kind, extra

    def response(self) -> web.Response:
        return web.json_response(
            {"error": {"type": self.kind, "message": self.message, **self.extra}}, status=self.status
        )


def missing(param: str) -> StripeFault:
    return StripeFault(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def invalid(param: str, message: str) -> StripeFault:
    return StripeFault(400, message, code="parameter_invalid", param=param)


def no_such(kind: str, ident: str) -> StripeFault:
    return StripeFault(404, f"No such {kind}: '{ident}'", code="resource_missing", param="id")


def decode_form(body: str) -> dict[str, Any]:
    """``a[b][0][c]=1`` becomes ``{"a": {"b": [{"c": "1"}]}}``; a repeated key is an error."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body)):
        match = _KEY.match(key)
        if match is None:
            raise invalid(key, f"Invalid parameter name: {key}")
        path = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise invalid(key, f"Invalid nesting at {key}")
        if path[-1] in node:
            raise invalid(key, f"Received the parameter {key} twice")
        node[path[-1]] = value
    decoded: dict[str, Any] = _lists(root)
    return decoded


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def require(params: dict[str, Any], *names: str) -> None:
    for name in names:
        node: Any = params
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node or node[part] in ("", None):
                raise missing(name.replace(".", "[", 1) + ("]" if "." in name else ""))
            node = node[part]


def as_int(params: dict[str, Any], name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise missing(name)
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid(name, f"Invalid integer: {raw}") from None


def page(objects: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    limit = as_int(params, "limit", 10)
    if not 1 <= limit <= 100:
        raise invalid("limit", "This value must be between 1 and 100.")
    after = params.get("starting_after")
    if after:
        ids = [o["id"] for o in objects]
        if after not in ids:
            raise no_such("object", after)
        objects = objects[ids.index(after) + 1 :]
    return {"object": "list", "data": objects[:limit], "has_more": len(objects) > limit, "url": url}
