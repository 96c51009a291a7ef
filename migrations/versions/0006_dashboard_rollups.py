"""Dashboard rollups: hourly latency histograms per model and error counts by kind.

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-28 03:55:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "latency_rollups",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "model", "metric", "bucket", name=op.f("pk_latency_rollups")),
    )
    op.create_table(
        "error_rollups",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("hour", "customer_id", "model", "kind", name=op.f("pk_error_rollups")),
    )


def downgrade() -> None:
    op.drop_table("error_rollups")
    op.drop_table("latency_rollups")
