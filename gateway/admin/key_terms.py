"""A key's terms in words, as ``tollgate keys list`` and the dashboard's Keys page show them."""

from __future__ import annotations

from decimal import Decimal

from gateway.metering.pricing import MICROS_PER_USD


def limits_text(rpm: int | None, tpm: int | None, max_concurrency: int | None) -> str:
    """``60 rpm, 100000 tpm, 4 at once``; ``none`` for a key without limits of its own."""
    parts = [f"{rpm} rpm" if rpm is not None else "", f"{tpm} tpm" if tpm is not None else ""]
    parts.append(f"{max_concurrency} at once" if max_concurrency is not None else "")
    return ", ".join(part for part in parts if part) or "none"


def budget_text(budget_micros: int | None, period: str | None) -> str:
    """``$12.50 a day``; ``none`` for a key without a budget of its own."""
    if budget_micros is None:
        return "none"
    dollars = Decimal(budget_micros) / MICROS_PER_USD
    shown = f"{dollars:.2f}" if dollars == round(dollars, 2) else format(dollars.normalize(), "f")
    return f"${shown} a {period or 'month'}"
