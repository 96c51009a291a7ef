"""Truncating timestamps to the start of their day, in SQL, on SQLite and Postgres alike.

Postgres has ``date_trunc``; its three-argument form truncates in a named zone, so the day is the
UTC day whatever the session's ``TimeZone``. SQLite stores ``UtcDateTime`` as UTC text
(``YYYY-MM-DD HH:MM:SS.ffffff``), where ``strftime`` rewrites the time of day to midnight.
Both results come back as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, literal_column, type_coerce
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from gateway.db.models.base import UtcDateTime

Timestamps = ColumnElement[dt.datetime] | QueryableAttribute[dt.datetime]


def day_start(column: Timestamps, dialect: str) -> ColumnElement[dt.datetime]:
    # Literal arguments, not bound parameters: Postgres only matches a GROUP BY expression to the
    # selected one when both are written identically, and two parameters are two different things.
    if dialect == "postgresql":
        return func.date_trunc(literal_column("'day'"), column, literal_column("'UTC'"), type_=UtcDateTime)
    if dialect == "sqlite":
        return type_coerce(func.strftime(literal_column("'%Y-%m-%d 00:00:00.000000'"), column), UtcDateTime)
    raise NotImplementedError(f"no day truncation for the {dialect} dialect")
