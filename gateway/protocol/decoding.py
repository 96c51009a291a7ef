"""Decoding and validating request bodies into the OpenAI error vocabulary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from gateway.core.errors import InvalidRequest

T = TypeVar("T")

_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`")
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")
# Far more than any real request (a JSON schema in ``response_format`` nests a few dozen levels), and
# far enough below Python's recursion limit that encoding, hashing or converting the body cannot hit it.
MAX_DEPTH = 128


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; anything else (not JSON, not UTF-8, nested deeper than
    ``MAX_DEPTH``) is a 400 ``invalid_json``."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.", code="invalid_json") from exc
    except UnicodeDecodeError:
        raise InvalidRequest("The JSON body of your request is not valid UTF-8.", code="invalid_json") from None
    except RecursionError:  # msgspec's own bound, near Python's recursion limit
        raise _too_deep() from None
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _deeper_than(decoded, MAX_DEPTH):
        raise _too_deep()
    if not isinstance(decoded, dict):
        raise InvalidRequest(
            f"The request body must be a JSON object, not a JSON {_json_kind(decoded)}.", code="invalid_json"
        )
    return decoded


def _too_deep() -> InvalidRequest:
    return InvalidRequest(
        f"The JSON body of your request is nested deeper than {MAX_DEPTH} levels.", code="invalid_json"
    )


def _deeper_than(value: Any, depth: int) -> bool:
    """Whether ``value`` nests more than ``depth`` arrays/objects, found level by level (no recursion)."""
    level = [value] if isinstance(value, (dict, list)) else []
    for _ in range(depth):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


def validate(raw: dict[str, Any], model: type[T]) -> T:
    try:
        return msgspec.convert(raw, model)
    except msgspec.ValidationError as exc:
        raise _as_invalid_request(str(exc)) from exc


def validate_query(params: Mapping[str, str], model: type[T]) -> T:
    """Query parameters arrive as strings: numbers in them are read leniently."""
    try:
        return msgspec.convert(dict(params), model, strict=False)
    except msgspec.ValidationError as exc:
        raise _as_invalid_request(str(exc)) from exc


def _as_invalid_request(message: str) -> InvalidRequest:
    problem, _, location = message.rpartition(" - at ")
    if not problem:
        problem, location = message, "$"
    location = location.strip("`")
    missing = _MISSING.match(problem)
    if missing:
        param = _param(f"{location}.{missing.group(1)}")
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    unknown = _UNKNOWN.match(problem)
    if unknown:  # only structs that forbid unknown fields, such as the admin API's
        parent, name = _param(location), unknown.group(1)  # a name as sent, even one like `group-by`
        param = name if location == "$" else f"{parent}.{name}"
        return InvalidRequest(f"Unrecognized argument: '{param}'.", param=param, code="unknown_parameter")
    param = _param(location)
    code = "invalid_type" if problem.startswith("Expected `") and "got `" in problem else "invalid_value"
    return InvalidRequest(f"Invalid value for '{param}': {_humanise(problem)}.", param=param, code=code)


def _param(location: str) -> str:
    """``$.messages[0].role`` becomes ``messages[0].role``."""
    parts = []
    for name, index in _PATH_PART.findall(location):
        parts.append(f".{name}" if name else f"[{index}]")
    return "".join(parts).lstrip(".") or "body"


def _humanise(problem: str) -> str:
    return problem.replace("`", "").replace("Expected", "expected", 1)


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}.get(type(value), "null")


def invalid(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)
