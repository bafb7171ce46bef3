"""Tickets, their comments and the events that make their history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum
from models.enums import TicketStatus, TicketType


class TicketNumberCounter(Base):
    """One row per year; `UPDATE ... RETURNING` on it hands out ticket numbers without gaps
    or duplicates when many tickets are created at once."""

    __tablename__ = "ticket_number_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class Ticket(IdMixin, TimestampMixin, Base):
    __tablename__ = "tickets"

    number: Mapped[str] = mapped_column(String(20), unique=True)
    type: Mapped[TicketType] = mapped_column(str_enum(TicketType, "ticket_type"))
    status: Mapped[TicketStatus] = mapped_column(
        str_enum(TicketStatus, "ticket_status"), default=TicketStatus.NEW
    )
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="RESTRICT"))
    device_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("devices.id", ondelete="RESTRICT"), index=True
    )
    created_by_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_phone: Mapped[str | None] = mapped_column(String(50))
    contact_email: Mapped[str] = mapped_column(String(254))
    contact_language: Mapped[str] = mapped_column(String(2), default="en")
    summary: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    symptom_category: Mapped[str | None] = mapped_column(String(50))
    # Type-specific request data (move target, removal reason, wanted date, ...).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(default=clock.now, onupdate=clock.now)
    response_due_at: Mapped[datetime | None] = mapped_column()
    first_responded_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Seconds spent ON_HOLD so far; the response clock stops while waiting for the customer.
    on_hold_seconds: Mapped[int] = mapped_column(default=0)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (
        UniqueConstraint("created_by_user_id", "idempotency_key", name="uq_tickets_idempotency"),
        Index("ix_tickets_account_created", "account_id", "created_at"),
        Index("ix_tickets_status_created", "status", "created_at"),
        CheckConstraint(
            "device_id IS NOT NULL OR type = 'ACCOUNT_QUERY'", name="device_unless_account_query"
        ),
    )


class TicketComment(IdMixin, TimestampMixin, Base):
    __tablename__ = "ticket_comments"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    author_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    # Internal notes are for vendor staff only.
    internal: Mapped[bool] = mapped_column(default=False)


class TicketEvent(IdMixin, TimestampMixin, Base):
    """One change of a ticket: who, when, from which status to which."""

    __tablename__ = "ticket_events"

    ticket_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[TicketStatus | None] = mapped_column(
        str_enum(TicketStatus, "from_ticket_status")
    )
    to_status: Mapped[TicketStatus | None] = mapped_column(
        str_enum(TicketStatus, "to_ticket_status")
    )
    comment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ticket_comments.id", ondelete="SET NULL")
    )
    internal: Mapped[bool] = mapped_column(default=False)
