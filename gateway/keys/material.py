"""Key material. Keys are 256-bit random tokens, so a plain SHA-256 is a sufficient, fast hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "tg-"
DISPLAY_LENGTH = 10
# The shortest start of a key that may name it (revoking, usage reports): "tg-" and three more.
MIN_REF_LENGTH = 6


@dataclass(frozen=True, slots=True)
class NewKey:
    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def presents_key(authorization: str | None) -> bool:
    """Whether a request's Authorization header offers a Tollgate key, or something other than a bearer.

    A config with an ``anonymous_customer`` serves the rest as that customer: no header, or a bearer
    that is not shaped like a key (the OpenAI SDKs always send one, ``api_key="unused"`` included).
    A key-shaped bearer is checked as a key, so an unknown, revoked or expired key is still refused."""
    if authorization is None:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() != "bearer" or token.strip().startswith(KEY_PREFIX)


def generate_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=secret[:DISPLAY_LENGTH], key_hash=hash_key(secret))
