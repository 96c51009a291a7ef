"""Admission: customer limits, budget warnings, prepaid flags and the credit ledger.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:06:41.431940
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("amount_micros", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_credit_entries_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_entries")),
        sa.UniqueConstraint("reference", name=op.f("uq_credit_entries_reference")),
    )
    with op.batch_alter_table("credit_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_credit_entries_customer_id"), ["customer_id"], unique=False)

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("budget_warning_percent", sa.Integer(), server_default=sa.text("80"), nullable=False)
        )

    with op.batch_alter_table("customers", schema=None) as batch_op:
        # Nullable until the existing rows have a value; both databases can add such a column in place.
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("budget_micros", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("budget_period", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("budget_warning_percent", sa.Integer(), server_default=sa.text("80"), nullable=False)
        )
        batch_op.add_column(sa.Column("prepaid", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(
            sa.Column("credit_grace_micros", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )

    op.execute("UPDATE customers SET updated_at = created_at")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f("ix_customers_updated_at"), ["updated_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_updated_at"))
        batch_op.drop_column("credit_grace_micros")
        batch_op.drop_column("prepaid")
        batch_op.drop_column("budget_warning_percent")
        batch_op.drop_column("budget_period")
        batch_op.drop_column("budget_micros")
        batch_op.drop_column("max_concurrency")
        batch_op.drop_column("tpm")
        batch_op.drop_column("rpm")
        batch_op.drop_column("updated_at")

    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("budget_warning_percent")

    with op.batch_alter_table("credit_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_credit_entries_customer_id"))

    op.drop_table("credit_entries")
