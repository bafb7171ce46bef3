"""Webhooks: a receiver's URL, the events it wants and the GraphQL document its payload is, and
the outbox of its deliveries (rows written in the same transaction as the change they announce,
delivered afterwards by `webhooks.sender`)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum


class DeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for its first attempt or its next retry (or being delivered)
    SUCCEEDED = "SUCCEEDED"  # the receiver answered 2xx
    FAILED = "FAILED"  # given up: retries exhausted, owner gone, receiver disabled
    SKIPPED = "SKIPPED"  # the owner may no longer see the event's object: nothing was sent


class Webhook(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhooks"

    # The account whose events (and its sub-accounts') it receives; None: every account
    # (vendor agents only).
    account_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # Whose scope and field permissions the payload is computed with; None once removed.
    owner_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    # Event names between commas (",ticket.created,ticket.commented,"): matched with LIKE by the
    # one INSERT ... SELECT that emits an event, the same on both databases.
    events: Mapped[str] = mapped_column(Text)
    query: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(String(500), default="")
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(64))
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    def event_names(self) -> list[str]:
        return [e for e in self.events.split(",") if e]


class WebhookDelivery(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_deliveries"

    webhook_id: Mapped[int] = mapped_column(BigId, ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    # The event's object: a GraphQL type name and its key (the `$id` of the payload query).
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    # Only for owners who see internal notes (an internal ticket comment).
    internal: Mapped[bool] = mapped_column(default=False)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "webhook_delivery_status"), default=DeliveryStatus.PENDING
    )
    # Next attempt, or while being delivered the end of the worker's lease.
    available_at: Mapped[datetime] = mapped_column(default=clock.now)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    response_status: Mapped[int | None] = mapped_column()
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        Index("ix_webhook_deliveries_pending", "status", "available_at"),
        Index("ix_webhook_deliveries_webhook_newest", "webhook_id", "id"),
        Index("ix_webhook_deliveries_subject", "webhook_id", "subject_type", "subject_id", "id"),
    )
