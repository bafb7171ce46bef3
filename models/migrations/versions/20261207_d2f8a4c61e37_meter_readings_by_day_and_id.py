"""meter readings indexed by (reading_date, id): the order of the `meterReadings` list and of
its bulk exports (keyset pages), replacing the index on reading_date alone (its prefix)

Revision ID: d2f8a4c61e37
Revises: b7d41e9a2c58
Create Date: 2026-12-07 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "d2f8a4c61e37"
down_revision: str | None = "b7d41e9a2c58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meter_readings") as batch_op:
        batch_op.create_index("ix_meter_readings_date_id", ["reading_date", "id"], unique=False)
        batch_op.drop_index("ix_meter_readings_date")


def downgrade() -> None:
    with op.batch_alter_table("meter_readings") as batch_op:
        batch_op.create_index("ix_meter_readings_date", ["reading_date"], unique=False)
        batch_op.drop_index("ix_meter_readings_date_id")
