"""Reading whole numbers that clients type: ASCII digits only, within a bound.

``str.isdigit`` is true of ``²`` and ``١٢٣`` (and ``int()`` then raises or reads Arabic digits), and
``int()`` refuses strings of more than 4,300 digits: a header or a path segment must pass here first.
"""

from __future__ import annotations

INT32_MAX = 2**31 - 1  # the largest id an ``Integer`` primary key holds


def whole_number(text: str, maximum: int) -> int | None:
    """``text`` (spaces around it allowed) as an integer in ``0..maximum``, else None."""
    text = text.strip()
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None
