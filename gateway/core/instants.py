"""Reading points in time typed by people: ``2025-05-01``, ``2025-05-01T12:00``, with or without a zone."""

from __future__ import annotations

import datetime as dt

from gateway.core.errors import InvalidRequest


def parse_instant(text: str) -> dt.datetime:
    """An aware UTC datetime from an ISO 8601 date or date-time; a missing zone means UTC.

    Raises ``ValueError`` with a message fit to show the user.
    """
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        example = "like 2025-05-01 or 2025-05-01T12:00Z"
        raise ValueError(f"{text!r} is not an ISO 8601 date or date-time ({example})") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def instant_param(text: str | None, param: str) -> dt.datetime | None:
    """:func:`parse_instant` for a request parameter: a bad value is a 400 naming ``param``."""
    if text is None:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid value for '{param}': {exc}.", param=param, code="invalid_value") from None
