"""trigram indexes for the devices text search (PostgreSQL): `search` on serial number, asset
tag and location is a substring match (`lower(column) LIKE '%text%'`), which a btree cannot
serve; without these it scans every device of the viewer, for the page and again for
`totalCount`

Revision ID: e4b7d2a9c1f8
Revises: 2e12cef1eaad
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "e4b7d2a9c1f8"
down_revision: str | None = "2e12cef1eaad"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Must stay the expressions `resolvers.search.contains` builds, so the planner can use them.
COLUMNS = {
    "ix_devices_search_serial_number": "serial_number",
    "ix_devices_search_asset_tag": "asset_tag",
    "ix_devices_search_location": "location_description",
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite has no trigram index; its scan of one customer's devices is in-process
    available = bind.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    ).scalar()
    if not available:
        return  # the search still works, by scanning
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in COLUMNS.items():
        op.execute(f"CREATE INDEX {name} ON devices USING gin (lower({column}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS {name}")
