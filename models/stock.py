"""Stock locations that e-Maintenance ships toner to, their levels and replenishment orders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum
from models.enums import ReplenishmentStatus


class StockLocation(IdMixin, TimestampMixin, Base):
    __tablename__ = "stock_locations"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    shipping_instructions: Mapped[str] = mapped_column(Text, default="")
    contact_name: Mapped[str | None] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # Just-in-time replenishment: an order is raised when a supplied device's toner is forecast
    # to run out within the delivery lead time plus these safety days.
    lead_time_days: Mapped[int] = mapped_column(default=5, server_default=text("5"))
    safety_days: Mapped[int] = mapped_column(default=3, server_default=text("3"))
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        CheckConstraint("lead_time_days BETWEEN 0 AND 365", name="lead_time_range"),
        CheckConstraint("safety_days BETWEEN 0 AND 365", name="safety_days_range"),
    )


class StockLevel(Base):
    __tablename__ = "stock_levels"

    stock_location_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stock_locations.id", ondelete="CASCADE"), primary_key=True
    )
    consumable_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("consumables.id", ondelete="RESTRICT"), primary_key=True
    )
    quantity: Mapped[int] = mapped_column(default=0)
    reorder_point: Mapped[int] = mapped_column(default=2)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)

    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("reorder_point >= 0", name="reorder_point_not_negative"),
    )


OPEN_ORDER = text("status IN ('PENDING', 'SHIPPED')")


class ReplenishmentOrder(IdMixin, TimestampMixin, Base):
    __tablename__ = "replenishment_orders"

    stock_location_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("stock_locations.id", ondelete="RESTRICT")
    )
    device_id: Mapped[int] = mapped_column(BigId, ForeignKey("devices.id", ondelete="CASCADE"))
    consumable_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("consumables.id", ondelete="RESTRICT")
    )
    quantity: Mapped[int] = mapped_column(default=1)
    status: Mapped[ReplenishmentStatus] = mapped_column(
        str_enum(ReplenishmentStatus, "replenishment_status"), default=ReplenishmentStatus.PENDING
    )
    shipped_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        # At most one open order per device and consumable, however concurrently it reports.
        Index(
            "uq_replenishment_orders_open",
            "device_id",
            "consumable_id",
            unique=True,
            sqlite_where=OPEN_ORDER,
            postgresql_where=OPEN_ORDER,
        ),
        # A location's orders newest first (the `replenishmentOrders` pages, keyset on
        # created_at and id); also serves the foreign key.
        Index("ix_replenishment_orders_location_newest", "stock_location_id", "created_at", "id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )
