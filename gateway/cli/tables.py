"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Sequence

_NUMBER = set("0123456789.-")


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; a column of numbers is aligned to the right."""
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    numeric = [bool(rows) and all(_is_number(row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(cells, widths, numeric, strict=True)
        )
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def _is_number(cell: str) -> bool:
    return bool(cell) and set(cell) <= _NUMBER and any(c.isdigit() for c in cell)
