"""Bulk exports: a person's query over one connection, run in the background over all its pages
into a gzip-compressed JSONL file under the var dir (`exports.runner`)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, IdMixin, TimestampMixin, str_enum


class ExportStatus(enum.StrEnum):
    PENDING = "PENDING"  # waiting for a worker
    RUNNING = "RUNNING"  # a worker writes it (its lease: `heartbeat_at`)
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_EXPORT = text("status IN ('PENDING', 'RUNNING')")


class BulkExport(IdMixin, TimestampMixin, Base):
    __tablename__ = "bulk_exports"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"))
    query: Mapped[str] = mapped_column(Text)
    status: Mapped[ExportStatus] = mapped_column(
        str_enum(ExportStatus, "bulk_export_status"), default=ExportStatus.PENDING
    )
    rows_written: Mapped[int] = mapped_column(default=0)
    total_rows: Mapped[int | None] = mapped_column()
    # Field errors met on the way (first ones only) and, for a FAILED export, why.
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    file_name: Mapped[str | None] = mapped_column(String(200))
    file_bytes: Mapped[int | None] = mapped_column()
    # Signs the download URLs; never leaves the server.
    download_key: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # When the file is removed (7 days after it was finished).
    expires_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (
        # One active export per person; a concurrent second start fails on this index.
        Index(
            "uq_bulk_exports_one_active",
            "user_id",
            unique=True,
            sqlite_where=ACTIVE_EXPORT,
            postgresql_where=ACTIVE_EXPORT,
        ),
        Index("ix_bulk_exports_user_newest", "user_id", "id"),
        Index("ix_bulk_exports_status", "status"),
    )
