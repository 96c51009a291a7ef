"""Taking out of an upstream's words what a customer must not read: the operator's addresses and
anything shaped like a credential.

Upstream error messages are written for the operator who holds the provider account (``Incorrect API
key provided: sk-proj-...``, ``Cannot connect to host 10.0.3.7:8000``); the gateway relays their
sense, not these details. Words survive (a context-length refusal still reads as one).
"""

from __future__ import annotations

import re

MAX_MESSAGE = 500
ADDRESS = "[address]"
SECRET = "[redacted]"

_SECRETS = re.compile(
    r"""
    \b(?:bearer|basic)\s+[^\s,;'"]+                                    # an Authorization value
    | \b(?:sk|pk|rk)-[A-Za-z0-9_\-*]{6,}                              # OpenAI / Anthropic / Stripe style keys
    | \b(?:whsec|ghp|gho|ghs|xox[abprs]|glpat)[_-][A-Za-z0-9_\-]{6,}   # webhook secrets, Git and Slack tokens
    | \bAKIA[0-9A-Z]{12,}                                              # AWS access key ids
    | \bAIza[0-9A-Za-z_\-]{20,}                                        # Google API keys
    | \beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]*)?      # JWTs
    | \b(?:api[_-]?key|access[_-]?token|token|secret|password|passwd|authorization)
      ["']?\s*[=:]\s*["']?(?:(?:bearer|basic)\s+)?[^\s,;'"]+                                  # key=value
    """,
    re.IGNORECASE | re.VERBOSE,
)
_ADDRESSES = re.compile(
    r"""
    \b[a-z][a-z0-9+.\-]*://[^\s'"<>)\]]+                               # URLs
    | (?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])              # IPv4, with a port
    | (?<![\w:])\[?(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}(?:%\w+)?\]?(?::\d{1,5})?(?![\w:])  # IPv6
    | (?<![\w:])\[?(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?::[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*  # IPv6, shortened
      (?:%\w+)?\]?(?::\d{1,5})?(?![\w:])
    | \blocalhost(?::\d{1,5})?\b
    | \b(?:[a-z0-9\-]+\.)+(?:internal|local|localdomain|lan|corp|intranet|svc|home\.arpa)\b(?::\d{1,5})?
    | (?<![\w.\-])[a-z][a-z0-9\-.]*:\d{2,5}\b                           # host:port
    """,
    re.IGNORECASE | re.VERBOSE,
)


def redacted(text: str) -> str:
    """``text`` without addresses and credentials, and at most ``MAX_MESSAGE`` characters."""
    text = _SECRETS.sub(SECRET, text)
    text = _ADDRESSES.sub(ADDRESS, text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


_IDENTIFIER = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,64}")


def identifier(value: str | None) -> str | None:
    """An upstream's error ``type``, ``code`` or ``param`` if it looks like one (a short name), else None."""
    if value is None or not _IDENTIFIER.fullmatch(value):
        return None
    return value if redacted(value) == value else None
