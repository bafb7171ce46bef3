"""fleet intelligence: flags of meter readings (SPIKE, STALE_DEVICE, ESTIMATED as bits)

Revision ID: b83d5f2e9a14
Revises: a6c1e9f40b72
Create Date: 2026-12-07 02:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b83d5f2e9a14"
down_revision: str | None = "a6c1e9f40b72"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    with op.batch_alter_table("meter_readings") as batch:
        batch.add_column(
            sa.Column("flags", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.create_check_constraint("flags_known", "flags BETWEEN 0 AND 7")


def downgrade() -> None:
    with op.batch_alter_table("meter_readings") as batch:
        batch.drop_constraint("flags_known", type_="check")
        batch.drop_column("flags")
