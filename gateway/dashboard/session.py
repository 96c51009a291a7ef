"""Dashboard sessions: a signed cookie that proves the admin token was given, and CSRF tokens.

The cookie holds when it was issued, a random session id and an HMAC-SHA256 of both under a key
derived from the admin token: valid on every replica, and void for everyone as soon as the admin
token changes; signing out revokes one session (``gateway/dashboard/sign_in.py`` keeps the revoked
ids). Each form carries a CSRF token, the HMAC of the session id
under another derived key, which only pages served to that session contain; with the cookie's
``SameSite=Strict`` a form posted from another site is refused twice over.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

COOKIE = "tollgate_dashboard"
LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    issued_at: int


class SessionSigner:
    def __init__(self, admin_token: str) -> None:
        self._admin_token = admin_token.encode()
        self._cookie_key = self._derive(b"dashboard-session")
        self._csrf_key = self._derive(b"dashboard-csrf")

    def _derive(self, purpose: bytes) -> bytes:
        return hmac.new(self._admin_token, purpose, hashlib.sha256).digest()

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.strip().encode(), self._admin_token)

    def issue(self, now: float | None = None) -> str:
        """A new session's cookie value."""
        issued = int(time.time() if now is None else now)
        body = f"{issued}.{secrets.token_urlsafe(18)}"
        return f"{body}.{self._sign(self._cookie_key, body)}"

    def open(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value stands for, or None if it is forged, altered or expired."""
        if not cookie or cookie.count(".") != 2:
            return None
        issued, session_id, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(self._cookie_key, f"{issued}.{session_id}")):
            return None
        if not issued.isdigit():
            return None
        age = (time.time() if now is None else now) - int(issued)
        return Session(session_id, int(issued)) if 0 <= age < LIFETIME_SECONDS else None

    def csrf_token(self, session: Session) -> str:
        return self._sign(self._csrf_key, session.id)

    def csrf_matches(self, session: Session, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given, self.csrf_token(session))

    @staticmethod
    def _sign(key: bytes, text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
