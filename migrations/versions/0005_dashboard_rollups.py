"""Dashboard rollups: usage per hour and day by one dimension, latency histograms, errors by kind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 04:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTALS = ("requests", "errors", "cache_hits", "input_tokens", "output_tokens", "cost_micros", "saved_micros")


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("dimension", sa.String(length=8), nullable=False),
        sa.Column("step", sa.String(length=4), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in TOTALS),
        sa.PrimaryKeyConstraint("dimension", "step", "start", "member", name=op.f("pk_usage_totals")),
    )
    # Every column, the counters after the key: the pages' sums read the index alone.
    op.create_index("ix_usage_totals_covering", "usage_totals", ["dimension", "step", "start", "member", *TOTALS])
    op.create_table(
        "latency_rollups",
        sa.Column("step", sa.String(length=4), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("step", "start", "model", "metric", "bucket", name=op.f("pk_latency_rollups")),
    )
    op.create_index(
        "ix_latency_rollups_covering", "latency_rollups", ["step", "start", "model", "metric", "bucket", "count"]
    )
    op.create_table(
        "error_rollups",
        sa.Column("step", sa.String(length=4), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("step", "start", "kind", name=op.f("pk_error_rollups")),
    )


def downgrade() -> None:
    op.drop_table("error_rollups")
    op.drop_index("ix_latency_rollups_covering", table_name="latency_rollups")
    op.drop_table("latency_rollups")
    op.drop_index("ix_usage_totals_covering", table_name="usage_totals")
    op.drop_table("usage_totals")
