"""Reading-due reminders sent: one per person and billing period, whatever the number of
workers running the reminder task (the unique constraint decides)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin


class ReadingReminder(IdMixin, Base):
    __tablename__ = "reading_reminders"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    # The first day of the billing period (the month, in the devices' site time zone).
    period_start: Mapped[date] = mapped_column(Date)
    device_count: Mapped[int] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column(default=clock.now)

    __table_args__ = (
        UniqueConstraint("user_id", "period_start", name="uq_reading_reminders_user_period"),
    )
