"""Validation of a Converse request body against Bedrock Runtime's own service model.

The shapes come from the service description that botocore ships (``bedrock-runtime``'s
``service-2.json``), so the fake accepts what AWS's schema accepts: member names, required members,
unions (exactly one member), enums, numeric and length bounds, base64 blobs. It is stricter than
AWS in one way: an unknown member is refused, because here it can only be a translation mistake.
Messages read like AWS's: ``1 validation error detected: Value '...' at 'inferenceConfig.topP'
failed to satisfy constraint: Member must have value less than or equal to 1``.
"""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StructureShape


class SchemaError(Exception):
    """One violation; the message is AWS's wording."""


@functools.cache
def _input_shape(operation: str) -> StructureShape:
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    shape = model.operation_model(operation).input_shape
    assert shape is not None
    return shape


def validate(operation: str, body: Any) -> None:
    """Raise :class:`SchemaError` unless ``body`` is a valid JSON body of ``operation``
    (``Converse`` or ``ConverseStream``); members bound to the URI are not in the body."""
    shape = _input_shape(operation)
    if not isinstance(body, dict):
        raise SchemaError("Malformed input request, please reformat your input and try again.")
    body_members = {name for name, member in shape.members.items() if "location" not in member.serialization}
    _structure(shape, body, "", body_members)


def _violation(value: Any, path: str, constraint: str) -> SchemaError:
    shown = str(value) if not isinstance(value, dict | list) else "..."
    return SchemaError(
        f"1 validation error detected: Value '{shown[:80]}' at '{path}' failed to satisfy constraint: {constraint}"
    )


def _check(shape: Shape, value: Any, path: str) -> None:
    if shape.metadata.get("document"):
        return  # any JSON value
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise _violation(value, path, "Member must be an object")
        _structure(shape, value, path, set(shape.members))
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise _violation(value, path, "Member must be a list")
        _bounds(shape, value, len(value), path, "length")
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}.{index + 1}.member")
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise _violation(value, path, "Member must be a map")
        for key, item in value.items():
            _check(shape.value, item, f"{path}.{key}")
    else:
        _scalar(shape, value, path)


def _structure(shape: StructureShape, value: dict[str, Any], path: str, allowed: set[str]) -> None:
    prefix = f"{path}." if path else ""
    for name in value:
        if name not in allowed:
            raise SchemaError(f"Malformed input request: extraneous key [{prefix}{name}] is not permitted")
    for name in shape.required_members:
        if name in allowed and value.get(name) is None:
            raise _violation(None, f"{prefix}{name}", "Member must not be null")
    present = [name for name, item in value.items() if item is not None]
    if shape.metadata.get("union") and len(present) != 1:
        raise SchemaError(f"Malformed input request: {path or 'body'} must set exactly one member")
    for name in present:
        _check(shape.members[name], value[name], f"{prefix}{name}")


def _scalar(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "string":
        if not isinstance(value, str):
            raise _violation(value, path, "Member must be a string")
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            raise _violation(value, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        _bounds(shape, value, len(value), path, "length")
    elif kind == "blob":
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError) as exc:
            raise _violation("...", path, "Member must be base64-encoded binary data") from exc
        _bounds(shape, decoded, len(decoded), path, "length")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _violation(value, path, "Member must be a boolean")
    elif kind in ("integer", "long", "float", "double"):
        numeric = (int,) if kind in ("integer", "long") else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric):
            raise _violation(value, path, f"Member must be a {kind}")
        _bounds(shape, value, value, path, "value")


def _bounds(shape: Shape, value: Any, measure: float, path: str, what: str) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measure < low:
        raise _violation(value, path, f"Member must have {what} greater than or equal to {low}")
    if high is not None and measure > high:
        raise _violation(value, path, f"Member must have {what} less than or equal to {high}")
