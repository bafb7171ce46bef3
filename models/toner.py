"""The history of the toner levels e-Maintenance devices report, and the cartridge replacements
read from it (a level that jumps up): what toner forecasts learn from."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin, str_enum
from models.enums import MeterType, TonerLevelState


class TonerLevelReport(IdMixin, Base):
    """One reported level of one consumable of one device (every report, not only the last)."""

    __tablename__ = "toner_level_reports"

    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id", ondelete="CASCADE"))
    consumable_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("consumables.id", ondelete="RESTRICT")
    )
    reported_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Null unless `state` is MEASURED.
    percent: Mapped[int | None] = mapped_column()
    state: Mapped[TonerLevelState] = mapped_column(
        str_enum(TonerLevelState, "toner_level_state"), default=TonerLevelState.MEASURED
    )

    __table_args__ = (
        # A device's history of one consumable, in time order; also serves the foreign key.
        Index("ix_toner_level_reports_device_time", "device_id", "consumable_id", "reported_at"),
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),
        CheckConstraint(
            "(state = 'MEASURED') = (percent IS NOT NULL)", name="percent_when_measured"
        ),
    )


class CartridgeReplacement(IdMixin, Base):
    """A cartridge change, seen as the reported level jumping up. The counter of the meter that
    toner prints on, as last read by then, dates the pages: the pages between two replacements
    are what one cartridge gave this device."""

    __tablename__ = "cartridge_replacements"

    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id", ondelete="CASCADE"))
    consumable_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("consumables.id", ondelete="RESTRICT")
    )
    replaced_at: Mapped[datetime] = mapped_column(default=clock.now)
    # The last measured level of the old cartridge and the first of the new one.
    from_percent: Mapped[int] = mapped_column()
    to_percent: Mapped[int] = mapped_column()
    meter: Mapped[MeterType | None] = mapped_column(str_enum(MeterType, "meter_type"))
    meter_value: Mapped[int | None] = mapped_column(BigInteger)
    meter_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_cartridge_replacements_device", "device_id", "consumable_id", "replaced_at"),
        CheckConstraint("from_percent BETWEEN 0 AND 100", name="from_percent_range"),
        CheckConstraint("to_percent BETWEEN 0 AND 100", name="to_percent_range"),
    )
