"""Embeddings in the exact cache: what a storable answer is, and a stored one served again.

An embeddings model maps one input to one vector, every time: a request is cached whatever its
parameters, under its tenant, model and every field of its body (``encoding_format`` included: a
float answer is not served to a base64 request). A hit is the stored list with this request's cost
in its usage; embeddings are never streamed.
"""

from __future__ import annotations

from decimal import Decimal

from backends.base import JSON


def complete(body: JSON) -> bool:
    """A list of vectors, each a list of numbers or a base64 string: nothing else is stored."""
    data = body.get("data")
    if not isinstance(data, list) or not data:
        return False
    return all(isinstance(row, dict) and isinstance(row.get("embedding"), (list, str)) for row in data)


def fresh_body(stored: JSON, cost: Decimal) -> JSON:
    """The stored answer with this request's cost in its usage (an embeddings answer has no id)."""
    usage = stored.get("usage")
    return {**stored, "usage": {**usage, "cost": cost}} if isinstance(usage, dict) else dict(stored)
