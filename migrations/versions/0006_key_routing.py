"""Routing: a key's priority tier and preferred region.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 04:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False))
        batch_op.add_column(sa.Column("region", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("region")
        batch_op.drop_column("priority")
