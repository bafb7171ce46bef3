"""Customer accounts (a group and its subsidiaries), their sites, contracts and payments."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Numeric, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum
from models.enums import CreditStatus


class Account(IdMixin, TimestampMixin, Base):
    """Carries both numbers the vendor uses: customer (contracts, invoices) and system (service)."""

    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    customer_account_number: Mapped[str] = mapped_column(String(32), unique=True)
    system_account_number: Mapped[str] = mapped_column(String(32), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(2), default="en")
    credit_status: Mapped[CreditStatus] = mapped_column(
        str_enum(CreditStatus, "credit_status"), default=CreditStatus.GOOD
    )
    credit_limit: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    main_contact_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )


class Payment(IdMixin, Base):
    """Payment history: vendor-only information."""

    __tablename__ = "payments"

    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    invoice_number: Mapped[str] = mapped_column(String(32))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    due_on: Mapped[date] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        Index("ix_payments_account_due", "account_id", "due_on"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
    )


class Site(IdMixin, TimestampMixin, Base):
    """A place devices stand; its time zone and country drive reading days and business hours."""

    __tablename__ = "sites"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(16))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))

    # Devices sorted by site name walk the sites in this order (incremental sort, LIMIT stops
    # early) instead of sorting the whole fleet.
    __table_args__ = (Index("ix_sites_name_id", "name", "id"),)


class Contract(IdMixin, TimestampMixin, Base):
    """A support contract; the devices it covers point at it."""

    __tablename__ = "contracts"

    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="RESTRICT"), index=True
    )
    number: Mapped[str] = mapped_column(String(32), unique=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    response_time_hours: Mapped[int] = mapped_column()
    coverage_start: Mapped[time] = mapped_column(Time, default=time(8, 30))
    coverage_end: Mapped[time] = mapped_column(Time, default=time(17, 30))
    # ISO weekdays covered, e.g. "12345" for Monday to Friday.
    coverage_days: Mapped[str] = mapped_column(String(7), default="12345")

    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
        CheckConstraint("response_time_hours > 0", name="response_time_positive"),
        CheckConstraint("coverage_end > coverage_start", name="coverage_end_after_start"),
    )

    def is_active_on(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on
