"""The outbox: mails and events written in the same transaction as the change they announce,
delivered afterwards by a sender, so nothing is announced that did not happen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import clock
from models.base import Base, IdMixin, TimestampMixin, str_enum
from models.enums import OutboxKind


class OutboxMessage(IdMixin, TimestampMixin, Base):
    __tablename__ = "outbox_messages"

    kind: Mapped[OutboxKind] = mapped_column(str_enum(OutboxKind, "outbox_kind"))
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    available_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_messages_pending", "sent_at", "available_at"),)
