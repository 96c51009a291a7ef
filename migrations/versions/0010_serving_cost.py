"""What each answer cost the operator: ``serving_cost_micros`` on usage events and their rollups,
the ``cost`` block of each model's price-book entry, and self-hosted pools' samples and settled hours.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 23:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_TOTALS = ("requests", "errors", "cache_hits", "input_tokens", "output_tokens", "cost_micros", "saved_micros")
TOTALS = (*OLD_TOTALS, "serving_cost_micros")
KEY = ("dimension", "step", "start", "member")


def _serving_cost() -> sa.Column[int]:
    return sa.Column("serving_cost_micros", sa.BigInteger(), nullable=False, server_default="0")


def upgrade() -> None:
    for table in ("usage_events", "usage_rollups", "usage_totals"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(_serving_cost())
    # The dashboard sums usage_totals from this index alone: it must hold the new counter too.
    op.drop_index("ix_usage_totals_covering", table_name="usage_totals")
    op.create_index("ix_usage_totals_covering", "usage_totals", [*KEY, *TOTALS])
    with op.batch_alter_table("model_prices") as batch:
        batch.add_column(sa.Column("cost", sa.JSON(), nullable=True))
    op.create_table(
        "pool_samples",
        sa.Column("pool", sa.String(length=200), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("replicas", sa.SmallInteger(), nullable=False),
        sa.Column("busy", sa.SmallInteger(), nullable=True),
        sa.PrimaryKeyConstraint("pool", "slot", name=op.f("pk_pool_samples")),
    )
    op.create_table(
        "pool_hours",
        sa.Column("pool", sa.String(length=200), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replica_seconds", sa.Float(), nullable=False),
        sa.Column("busy_seconds", sa.Float(), nullable=False),
        sa.Column("busy_source", sa.String(length=16), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("bill_micros", sa.BigInteger(), nullable=False),
        sa.Column("allocated_micros", sa.BigInteger(), nullable=False),
        sa.Column("idle_micros", sa.BigInteger(), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pool", "hour", name=op.f("pk_pool_hours")),
    )


def downgrade() -> None:
    op.drop_table("pool_hours")
    op.drop_table("pool_samples")
    with op.batch_alter_table("model_prices") as batch:
        batch.drop_column("cost")
    op.drop_index("ix_usage_totals_covering", table_name="usage_totals")
    for table in ("usage_totals", "usage_rollups", "usage_events"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("serving_cost_micros")
    op.create_index("ix_usage_totals_covering", "usage_totals", [*KEY, *OLD_TOTALS])
