"""The limit columns that keys and customers both carry, declared once."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

DEFAULT_WARNING_PERCENT = 80


class Limits:
    """Limits enforced by admission control; None means unlimited. On a customer they bound all of its
    keys together; on a key, that key alone."""

    rpm: Mapped[int | None] = mapped_column(Integer, default=None)
    tpm: Mapped[int | None] = mapped_column(Integer, default=None)
    max_concurrency: Mapped[int | None] = mapped_column(Integer, default=None)
    budget_micros: Mapped[int | None] = mapped_column(BigInteger, default=None)
    budget_period: Mapped[str | None] = mapped_column(String(8), default=None)
    # The share of the budget spent at which a warning is given; the hard stop is at 100 %.
    budget_warning_percent: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_WARNING_PERCENT, server_default=text(str(DEFAULT_WARNING_PERCENT))
    )
