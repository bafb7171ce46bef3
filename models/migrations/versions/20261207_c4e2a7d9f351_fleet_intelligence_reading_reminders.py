"""fleet intelligence: reading-due reminders sent (one per person and billing period)

Revision ID: c4e2a7d9f351
Revises: b83d5f2e9a14
Create Date: 2026-12-07 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4e2a7d9f351"
down_revision: str | None = "b83d5f2e9a14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reading_reminders",
        sa.Column("user_id", BigId, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("device_count", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_reading_reminders_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reading_reminders")),
        sa.UniqueConstraint(
            "user_id", "period_start", name="uq_reading_reminders_user_period"
        ),
    )


def downgrade() -> None:
    op.drop_table("reading_reminders")
