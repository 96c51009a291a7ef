"""What one client's request is within a batched embeddings call: its inputs going in, its share coming out.

Pure functions: flattening a request's ``input`` into the units a list input is made of, the key of
the batch it may join, and taking one member's vectors and usage back out of the batch's answer.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Hashable, Sequence
from typing import Any

import msgspec

from backends.base import JSON, TokenCounter
from gateway.core.errors import UpstreamProtocolError

# Fields the batch sets for itself: anything else in the body must match to share one upstream call.
_PER_MEMBER = frozenset({"input", "encoding_format"})
_encode_sorted = msgspec.json.Encoder(order="sorted").encode


def units_of(value: Any) -> tuple[str, list[Any]] | None:
    """The kind (``text`` or ``tokens``) and units of an ``input``: a text or a token list is one
    unit, a list of either is one unit per item. None for a shape a list cannot carry unchanged."""
    if isinstance(value, str):
        return "text", [value]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(item, str) for item in value):
        return "text", list(value)
    if all(isinstance(item, int) and not isinstance(item, bool) for item in value):
        return "tokens", [value]
    if all(isinstance(item, list) and item and all(isinstance(t, int) for t in item) for item in value):
        return "tokens", list(value)
    return None


def batch_key(backend: object, body: JSON, kind: str) -> Hashable:
    """Requests share a call only on the same replica, with the same upstream parameters
    (model, ``dimensions``, ``user``, any field passed through) and the same kind of input."""
    params = {name: value for name, value in body.items() if name not in _PER_MEMBER}
    return id(backend), kind, _encode_sorted(params)


def weight(unit: Any, tokens: TokenCounter) -> int:
    """One input's tokens as this gateway counts them: the share of the upstream's count it is given."""
    return tokens.count(unit) if isinstance(unit, str) else len(unit)


def shares(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` by largest remainder: the parts sum to ``total``
    exactly, ties go to the earlier part, and equal weights get parts at most one apart."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


def split_usage(usage: Any, weights: Sequence[int]) -> list[JSON | None]:
    """Each member's usage: every whole-number field of the upstream's usage split by ``weights``.
    No usage from the upstream: none for anyone (each request is then counted on its own)."""
    if not isinstance(usage, dict):
        return [None] * len(weights)
    split: list[JSON] = [{} for _ in weights]
    for name, value in usage.items():
        if isinstance(value, int) and not isinstance(value, bool):
            for part, share in zip(split, shares(value, weights), strict=True):
                part[name] = share
    return list(split)


def rows_in_order(answer: JSON, expected: int) -> list[JSON]:
    """The answer's embeddings sorted by ``index``, checked to be exactly one per input sent."""
    data = answer.get("data")
    if not isinstance(data, list) or len(data) != expected:
        raise UpstreamProtocolError(f"upstream answered a batch of {expected} inputs with another number of embeddings")
    try:
        rows = sorted(data, key=lambda row: int(row["index"]))
    except (KeyError, TypeError, ValueError):
        raise UpstreamProtocolError("upstream answered a batch with embeddings that have no index") from None
    if [row["index"] for row in rows] != list(range(expected)):
        raise UpstreamProtocolError("upstream answered a batch whose embedding indexes are not 0..n-1")
    return rows


def as_encoding(vector: Any, encoding: str) -> Any:
    """A vector in the client's encoding. The batch asks for floats when its members differ; OpenAI's
    base64 is the little-endian float32 bytes of those floats, which is what is produced here."""
    if encoding != "base64" or isinstance(vector, str):
        return vector
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def member_answer(answer: JSON, rows: Sequence[JSON], encoding: str, usage: JSON | None) -> JSON:
    """One member's answer: the batch's envelope, its own rows indexed from 0, its own usage."""
    own: JSON = {name: value for name, value in answer.items() if name not in ("data", "usage")}
    own["data"] = [
        {**row, "index": index, "embedding": as_encoding(row.get("embedding"), encoding)}
        for index, row in enumerate(rows)
    ]
    if usage is not None:
        own["usage"] = usage
    return own
