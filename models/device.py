"""Devices of the fleet and the toner levels e-Maintenance reports for them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum
from models.enums import DeviceStatus, TonerLevelState


class Device(IdMixin, TimestampMixin, Base):
    __tablename__ = "devices"

    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    asset_tag: Mapped[str | None] = mapped_column(String(64))
    cost_center: Mapped[str | None] = mapped_column(String(64))
    product_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("product_models.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="RESTRICT"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id", ondelete="RESTRICT"))
    contract_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("contracts.id", ondelete="SET NULL"), index=True
    )
    stock_location_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("stock_locations.id", ondelete="SET NULL"), index=True
    )
    location_description: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[DeviceStatus] = mapped_column(
        str_enum(DeviceStatus, "device_status"), default=DeviceStatus.ACTIVE
    )
    e_maintenance: Mapped[bool] = mapped_column(default=False)
    installed_on: Mapped[date] = mapped_column(Date)
    # Newest meter reading day of any meter (null: never read), kept by whoever stores readings
    # (`resolvers.meters.record_reading_dates`): the devices list sorts by it without a
    # correlated max over millions of readings.
    last_reading_date: Mapped[date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        Index("ix_devices_account_serial", "account_id", "serial_number"),
        Index("ix_devices_site_serial", "site_id", "serial_number"),
    )


class TonerLevel(Base):
    """The last level e-Maintenance reported per device and consumable (its history is in
    `models.toner.TonerLevelReport`)."""

    __tablename__ = "toner_levels"

    device_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    consumable_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("consumables.id", ondelete="RESTRICT"), primary_key=True
    )
    # Null unless `state` is MEASURED (a special value is not a number).
    percent: Mapped[int | None] = mapped_column()
    state: Mapped[TonerLevelState] = mapped_column(
        str_enum(TonerLevelState, "toner_level_state"), default=TonerLevelState.MEASURED
    )
    reported_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        CheckConstraint("percent BETWEEN 0 AND 100", name="percent_range"),
        CheckConstraint(
            "(state = 'MEASURED') = (percent IS NOT NULL)", name="percent_when_measured"
        ),
    )
