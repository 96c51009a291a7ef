"""Billing through Stripe: the meter event outbox, webhook events and reconciliations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 03:47:36.931381
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stripe_webhook_events",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checkout_session", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_webhook_events")),
    )
    op.create_table(
        "billing_meter_events",
        sa.Column("identifier", sa.String(length=100), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_billing_meter_events_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("identifier", name=op.f("pk_billing_meter_events")),
    )
    with op.batch_alter_table("billing_meter_events", schema=None) as batch_op:
        batch_op.create_index("ix_billing_meter_events_customer_hour", ["customer_id", "hour"], unique=False)
        batch_op.create_index("ix_billing_meter_events_status", ["status"], unique=False)

    op.create_table(
        "billing_reconciliations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tollgate_micros", sa.BigInteger(), nullable=False),
        sa.Column("stripe_micros", sa.BigInteger(), nullable=False),
        sa.Column("differences", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_billing_reconciliations_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_reconciliations")),
    )
    with op.batch_alter_table("billing_reconciliations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_reconciliations_customer_checked", ["customer_id", "checked_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("billing_reconciliations", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_reconciliations_customer_checked")

    op.drop_table("billing_reconciliations")
    with op.batch_alter_table("billing_meter_events", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_meter_events_status")
        batch_op.drop_index("ix_billing_meter_events_customer_hour")

    op.drop_table("billing_meter_events")
    op.drop_table("stripe_webhook_events")
