"""Meter readings: one row per device x meter x local day, the basis of exact invoices."""

from __future__ import annotations

from datetime import date

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
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

    __table_args__ = (
        # The once-a-day rule, enforced by the database under concurrency. Its index also serves
        # "latest reading per meter" as an index seek (max(reading_date) per device and meter).
        UniqueConstraint("device_id", "meter", "reading_date", name="uq_meter_readings_device_day"),
        Index("ix_meter_readings_date", "reading_date"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )
