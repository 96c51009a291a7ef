"""Per-key response cache terms: how long a key's answers are kept, and caching sampled requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:12:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_ttl_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("cache_nondeterministic", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("cache_nondeterministic")
        batch_op.drop_column("cache_ttl_seconds")
