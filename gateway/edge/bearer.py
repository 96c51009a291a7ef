"""Comparing an ``Authorization: Bearer <token>`` header with a configured token, in constant time."""

from __future__ import annotations

import hmac


def bearer_matches(authorization: str | None, token: str | None) -> bool:
    """False when no token is configured, the header is missing, another scheme, or another token."""
    if not token or not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
