"""index replenishment orders (stock_location_id, created_at, id): a location's orders newest
first, for the `replenishmentOrders` keyset pages (it also serves the foreign key, replacing the
index on stock_location_id alone)

Revision ID: f3a9c6d1b2e4
Revises: e4b7d2a9c1f8
Create Date: 2026-11-24 09:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "f3a9c6d1b2e4"
down_revision: str | None = "e4b7d2a9c1f8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_replenishment_orders_location_newest",
        "replenishment_orders",
        ["stock_location_id", "created_at", "id"],
    )
    op.drop_index(
        "ix_replenishment_orders_stock_location_id", table_name="replenishment_orders"
    )


def downgrade() -> None:
    op.create_index(
        "ix_replenishment_orders_stock_location_id",
        "replenishment_orders",
        ["stock_location_id"],
    )
    op.drop_index("ix_replenishment_orders_location_newest", table_name="replenishment_orders")
