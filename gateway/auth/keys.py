"""Key material. Keys are 256-bit random tokens, so a plain SHA-256 is a sufficient, fast hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "tg-"
DISPLAY_LENGTH = 10


@dataclass(frozen=True, slots=True)
class NewKey:
    secret: str
    prefix: str
    key_hash: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    return NewKey(secret=secret, prefix=secret[:DISPLAY_LENGTH], key_hash=hash_key(secret))
