"""Meter readings: one row per device x meter x local day, the basis of exact invoices."""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum
from models.enums import MeterType, ReadingSource


class MeterReading(IdMixin, TimestampMixin, Base):
    __tablename__ = "meter_readings"

    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id", ondelete="CASCADE"))
    meter: Mapped[MeterType] = mapped_column(str_enum(MeterType, "meter_type"))
    # The day in the device site's time zone.
    reading_date: Mapped[date] = mapped_column(Date)
    value: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[ReadingSource] = mapped_column(str_enum(ReadingSource, "reading_source"))
    submitted_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    submitted_by_client_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("api_clients.id", ondelete="SET NULL")
    )
    # An agent's correction changes the value in place; the original stays in the audit log.
    correction_reason: Mapped[str | None] = mapped_column(String(500))
    # forecasting.meters.Flag bits (SPIKE 1, STALE_DEVICE 2, ESTIMATED 4), set when stored: a
    # flagged reading is stored all the same.
    flags: Mapped[int] = mapped_column(default=0, server_default=text("0"))

    __table_args__ = (
        # The once-a-day rule, enforced by the database under concurrency. Its index also serves
        # "latest reading per meter" as an index seek (max(reading_date) per device and meter).
        UniqueConstraint("device_id", "meter", "reading_date", name="uq_meter_readings_device_day"),
        # The order of the `meterReadings` list (and of the filters on days).
        Index("ix_meter_readings_date_id", "reading_date", "id"),
        CheckConstraint("value >= 0", name="value_not_negative"),
        CheckConstraint("flags BETWEEN 0 AND 7", name="flags_known"),
    )


class MeterUsageMonth(Base):
    """Pages per device, meter and calendar month, maintained on write (resolvers/usage_rollup.py)
    so that monthly usage reports do not read every reading.

    Pages between two consecutive readings are spread evenly over the days between them (as in
    resolvers/usage.py); `pages` is the share of the month. `prev_*` is the last reading before
    the month and `next_*` the first one after it: with the month's own readings they are every
    point a part of the month needs (the first and last month of a report rarely are whole)."""

    __tablename__ = "meter_usage_months"

    device_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    meter: Mapped[MeterType] = mapped_column(str_enum(MeterType, "meter_type"), primary_key=True)
    # The first day of the month.
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    pages: Mapped[float] = mapped_column(Float)
    prev_day: Mapped[date | None] = mapped_column(Date)
    prev_value: Mapped[int | None] = mapped_column(BigInteger)
    next_day: Mapped[date | None] = mapped_column(Date)
    next_value: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_meter_usage_months_month", "month"),)
