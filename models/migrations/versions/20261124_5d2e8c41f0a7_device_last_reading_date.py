"""devices.last_reading_date: the newest reading day per device, for sorting the fleet

Revision ID: 5d2e8c41f0a7
Revises: 7a1f0c9e2b31
Create Date: 2026-11-24 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5d2e8c41f0a7"
down_revision: str | None = "7a1f0c9e2b31"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("last_reading_date", sa.Date(), nullable=True))
    op.execute(
        "UPDATE devices SET last_reading_date = "
        "(SELECT max(r.reading_date) FROM meter_readings r WHERE r.device_id = devices.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("last_reading_date")
