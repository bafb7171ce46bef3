"""fleet intelligence: toner level history and cartridge replacements, Printer MIB special
levels (unknown / some remaining), consumables' rated yield, stock locations' lead time and
safety days for just-in-time replenishment

Revision ID: a6c1e9f40b72
Revises: f3a9c6d1b2e4
Create Date: 2026-12-07 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a6c1e9f40b72"
down_revision: str | None = "f3a9c6d1b2e4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATES = "state IN ('MEASURED', 'UNKNOWN', 'SOME_REMAINING')"
METERS = "meter IN ('TOTAL', 'BLACK', 'COLOUR', 'LARGE_BLACK', 'LARGE_COLOUR', 'SCAN')"


def upgrade() -> None:
    with op.batch_alter_table("consumables") as batch:
        batch.add_column(sa.Column("rated_yield_pages", sa.Integer(), nullable=True))
        batch.create_check_constraint("rated_yield_positive", "rated_yield_pages > 0")
    with op.batch_alter_table("stock_locations") as batch:
        batch.add_column(
            sa.Column("lead_time_days", sa.Integer(), server_default=sa.text("5"), nullable=False)
        )
        batch.add_column(
            sa.Column("safety_days", sa.Integer(), server_default=sa.text("3"), nullable=False)
        )
        batch.create_check_constraint("lead_time_range", "lead_time_days BETWEEN 0 AND 365")
        batch.create_check_constraint("safety_days_range", "safety_days BETWEEN 0 AND 365")
    with op.batch_alter_table("toner_levels") as batch:
        batch.alter_column("percent", existing_type=sa.Integer(), nullable=True)
        batch.add_column(
            sa.Column(
                "state", sa.String(32), server_default=sa.text("'MEASURED'"), nullable=False
            )
        )
        batch.create_check_constraint("toner_level_state", STATES)
        batch.create_check_constraint(
            "percent_when_measured", "(state = 'MEASURED') = (percent IS NOT NULL)"
        )
    with op.batch_alter_table("toner_levels") as batch:
        batch.alter_column("state", existing_type=sa.String(32), server_default=None)

    op.create_table(
        "toner_level_reports",
        sa.Column("device_id", BigId, nullable=False),
        sa.Column("consumable_id", BigId, nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.CheckConstraint(STATES, name=op.f("ck_toner_level_reports_toner_level_state")),
        sa.CheckConstraint(
            "percent BETWEEN 0 AND 100", name=op.f("ck_toner_level_reports_percent_range")
        ),
        sa.CheckConstraint(
            "(state = 'MEASURED') = (percent IS NOT NULL)",
            name=op.f("ck_toner_level_reports_percent_when_measured"),
        ),
        sa.ForeignKeyConstraint(
            ["consumable_id"],
            ["consumables.id"],
            name=op.f("fk_toner_level_reports_consumable_id_consumables"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_toner_level_reports_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_toner_level_reports")),
    )
    op.create_index(
        "ix_toner_level_reports_device_time",
        "toner_level_reports",
        ["device_id", "consumable_id", "reported_at"],
    )
    op.create_table(
        "cartridge_replacements",
        sa.Column("device_id", BigId, nullable=False),
        sa.Column("consumable_id", BigId, nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_percent", sa.Integer(), nullable=False),
        sa.Column("to_percent", sa.Integer(), nullable=False),
        sa.Column("meter", sa.String(32), nullable=True),
        sa.Column("meter_value", sa.BigInteger(), nullable=True),
        sa.Column("meter_date", sa.Date(), nullable=True),
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.CheckConstraint(METERS, name=op.f("ck_cartridge_replacements_meter_type")),
        sa.CheckConstraint(
            "from_percent BETWEEN 0 AND 100",
            name=op.f("ck_cartridge_replacements_from_percent_range"),
        ),
        sa.CheckConstraint(
            "to_percent BETWEEN 0 AND 100", name=op.f("ck_cartridge_replacements_to_percent_range")
        ),
        sa.ForeignKeyConstraint(
            ["consumable_id"],
            ["consumables.id"],
            name=op.f("fk_cartridge_replacements_consumable_id_consumables"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_cartridge_replacements_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cartridge_replacements")),
    )
    op.create_index(
        "ix_cartridge_replacements_device",
        "cartridge_replacements",
        ["device_id", "consumable_id", "replaced_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_cartridge_replacements_device", table_name="cartridge_replacements")
    op.drop_table("cartridge_replacements")
    op.drop_index("ix_toner_level_reports_device_time", table_name="toner_level_reports")
    op.drop_table("toner_level_reports")
    op.execute("DELETE FROM toner_levels WHERE percent IS NULL")
    with op.batch_alter_table("toner_levels") as batch:
        batch.drop_constraint("percent_when_measured", type_="check")
        batch.drop_constraint("toner_level_state", type_="check")
        batch.drop_column("state")
        batch.alter_column("percent", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("stock_locations") as batch:
        batch.drop_constraint("safety_days_range", type_="check")
        batch.drop_constraint("lead_time_range", type_="check")
        batch.drop_column("safety_days")
        batch.drop_column("lead_time_days")
    with op.batch_alter_table("consumables") as batch:
        batch.drop_constraint("rated_yield_positive", type_="check")
        batch.drop_column("rated_yield_pages")
