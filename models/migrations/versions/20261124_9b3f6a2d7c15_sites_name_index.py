"""index sites (name, id): devices sorted by site walk sites in name order

Revision ID: 9b3f6a2d7c15
Revises: 5d2e8c41f0a7
Create Date: 2026-11-24 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "9b3f6a2d7c15"
down_revision: str | None = "5d2e8c41f0a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sites_name_id", "sites", ["name", "id"])


def downgrade() -> None:
    op.drop_index("ix_sites_name_id", table_name="sites")
