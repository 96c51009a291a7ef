"""Decoding and validating request bodies into the OpenAI error vocabulary."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

from backends.errors import InvalidRequest

T = TypeVar("T")

_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`")
_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]")


def decode_object(body: bytes) -> dict[str, Any]:
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.", code="invalid_json") from exc
    if not isinstance(decoded, dict):
        raise InvalidRequest(
            f"The request body must be a JSON object, not a JSON {_json_kind(decoded)}.", code="invalid_json"
        )
    return decoded


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
