"""meter_usage_months: pages per device, meter and month, maintained on write, so that monthly
usage reports read one row per device, meter and month instead of every reading

The backfill is one INSERT ... SELECT: consecutive readings (LAG) make intervals, each is spread
over the months it covers (pages * days in the month / days of the interval, as the app does),
and per month the earliest and latest interval touching it give its `prev_*` / `next_*` points
(counters never go down, so the smallest value belongs to the earliest day). An interval that
starts on a month's last day touches it with no pages (its `next_*` is that interval's end).

Revision ID: 2e12cef1eaad
Revises: 9b3f6a2d7c15
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "2e12cef1eaad"
down_revision: str | None = "9b3f6a2d7c15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EPOCH = "2000-01-03"


def _day_number(expr: str, dialect: str) -> str:
    if dialect == "postgresql":
        return f"({expr} - DATE '{EPOCH}')"
    return f"CAST(julianday({expr}) - julianday('{EPOCH}') AS INTEGER)"


def _date(day: date, dialect: str) -> str:
    return f"DATE '{day.isoformat()}'" if dialect == "postgresql" else f"'{day.isoformat()}'"


def _months(first: date, last: date) -> list[tuple[date, date]]:
    months = []
    month = first.replace(day=1)
    while month <= last:
        following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        months.append((month, following - timedelta(days=1)))
        month = following
    return months


def backfill_sql(dialect: str, first: date, last: date) -> str:
    """The INSERT ... SELECT of every month from `first`'s to `last`'s (the readings' range)."""
    epoch = date.fromisoformat(EPOCH)
    months = ", ".join(
        f"({_date(start, dialect)}, {(start - epoch).days}, {(end - epoch).days})"
        for start, end in _months(first, last)
    )
    day = _day_number("reading_date", dialect)
    return f"""
WITH m(month, s, t) AS (VALUES {months})
INSERT INTO meter_usage_months
    (device_id, meter, month, pages, prev_day, prev_value, next_day, next_value)
SELECT iv.device_id, iv.meter, m.month,
    SUM(CAST(iv.ev - iv.pv AS FLOAT)
        * ((CASE WHEN iv.e < m.t THEN iv.e ELSE m.t END)
           - (CASE WHEN iv.p + 1 > m.s THEN iv.p + 1 ELSE m.s END) + 1)
        / (iv.e - iv.p)),
    CASE WHEN MIN(iv.p) < m.s THEN MIN(iv.p_date) END,
    CASE WHEN MIN(iv.p) < m.s THEN MIN(iv.pv) END,
    CASE WHEN MAX(iv.e) > m.t THEN MAX(iv.e_date) END,
    CASE WHEN MAX(iv.e) > m.t THEN MAX(iv.ev) END
FROM (
    SELECT device_id, meter, reading_date AS e_date, value AS ev, {day} AS e,
        LAG(reading_date) OVER w AS p_date, LAG(value) OVER w AS pv, LAG({day}) OVER w AS p
    FROM meter_readings
    WINDOW w AS (PARTITION BY device_id, meter ORDER BY reading_date)
) iv
JOIN m ON iv.p <= m.t AND iv.e >= m.s
WHERE iv.p IS NOT NULL
GROUP BY iv.device_id, iv.meter, m.month, m.s, m.t
"""


def upgrade() -> None:
    op.create_table(
        "meter_usage_months",
        sa.Column(
            "device_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "meter",
            sa.Enum(
                "TOTAL",
                "BLACK",
                "COLOUR",
                "LARGE_BLACK",
                "LARGE_COLOUR",
                "SCAN",
                name="meter_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("pages", sa.Float(), nullable=False),
        sa.Column("prev_day", sa.Date(), nullable=True),
        sa.Column("prev_value", sa.BigInteger(), nullable=True),
        sa.Column("next_day", sa.Date(), nullable=True),
        sa.Column("next_value", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_meter_usage_months_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "meter", "month", name=op.f("pk_meter_usage_months")),
    )
    op.create_index("ix_meter_usage_months_month", "meter_usage_months", ["month"])
    bind = op.get_bind()
    first, last = bind.execute(
        sa.text("SELECT min(reading_date), max(reading_date) FROM meter_readings")
    ).one()
    if first is not None:
        if isinstance(first, str):  # SQLite
            first, last = date.fromisoformat(first), date.fromisoformat(last)
        op.execute(backfill_sql(bind.dialect.name, first, last))


def downgrade() -> None:
    op.drop_index("ix_meter_usage_months_month", table_name="meter_usage_months")
    op.drop_table("meter_usage_months")
