"""Bulk exports: starting one (one active export per person), reading and cancelling one's own,
the signed, expiring download URLs, and what the background runner records as it goes.

The query is checked and rewritten by the schema layer (it knows the schema); the runner that
executes it page by page lives there too (`schema.export_runner`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from core.errors import UserError
from core.ids import decode_id_or_none
from models import BulkExport, ExportStatus
from resolvers.audit import audit
from settings import Settings

if TYPE_CHECKING:
    from resolvers.context import Context

# Files are removed this long after the export finished.
RETENTION = timedelta(days=7)
# A download URL is valid this long after it was read.
URL_TTL = timedelta(hours=1)
ACTIVE = (ExportStatus.PENDING, ExportStatus.RUNNING)


def export_dir(settings: Settings) -> Path:
    return settings.var_dir / "exports"


async def exporting_person(context: Context) -> int:
    """The signed-in person exporting (machine clients do not export: BULK_EXPORT_PEOPLE_ONLY)."""
    scope = await context.require_scope()
    if scope.user_id is None:
        raise UserError("BULK_EXPORT_PEOPLE_ONLY", "query")
    return scope.user_id


async def start_bulk_export(context: Context, query: str) -> BulkExport:
    """A PENDING export of the (checked) query for the viewer; BULK_EXPORT_RUNNING while one of
    theirs is pending or running (the unique index settles two starts at once)."""
    user_id = await exporting_person(context)
    session = context.session
    running = await session.scalar(
        select(BulkExport.id).where(BulkExport.user_id == user_id, BulkExport.status.in_(ACTIVE))
    )
    if running is not None:
        raise UserError("BULK_EXPORT_RUNNING", "query")
    export = BulkExport(
        user_id=user_id,
        query=query,
        status=ExportStatus.PENDING,
        rows_written=0,
        errors=[],
        download_key=secrets.token_hex(32),
        created_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(export)
            await session.flush()
    except IntegrityError:
        raise UserError("BULK_EXPORT_RUNNING", "query") from None
    audit(context, "bulk_export.start", "BulkExport", export.id)
    return export


async def own_export(context: Context, raw_id: str, *, field: str = "id") -> BulkExport | None:
    """The viewer's export (None for anyone else's: exports are personal)."""
    scope = await context.require_scope()
    export_id = decode_id_or_none(raw_id, "BulkExport")
    if export_id is None or scope.user_id is None:
        return None
    return await context.session.scalar(
        select(BulkExport).where(BulkExport.id == export_id, BulkExport.user_id == scope.user_id)
    )


async def cancel_bulk_export(context: Context, raw_id: str) -> BulkExport:
    export = await own_export(context, raw_id)
    if export is None:
        raise UserError("NOT_FOUND", "id")
    if export.status not in ACTIVE:
        raise UserError("BULK_EXPORT_FINISHED", "id")
    export.status = ExportStatus.CANCELLED
    export.finished_at = clock.now()
    audit(context, "bulk_export.cancel", "BulkExport", export.id)
    return export


# --- download URLs ----------------------------------------------------------------------------


def _signature(export: BulkExport, expires: int) -> str:
    message = f"{export.id}.{expires}".encode()
    return hmac.new(export.download_key.encode(), message, hashlib.sha256).hexdigest()


def download_url(settings: Settings, export: BulkExport) -> str | None:
    """A URL valid for `URL_TTL` from now, while the file exists."""
    if export.status is not ExportStatus.COMPLETED or export.file_name is None:
        return None
    expires = int(clock.timestamp() + URL_TTL.total_seconds())
    query = urlencode({"expires": expires, "signature": _signature(export, expires)})
    return f"{settings.public_url.rstrip('/')}/exports/{export.id}?{query}"


async def downloadable(
    session: AsyncSession, settings: Settings, export_id: str, expires: str, signature: str
) -> Path | None:
    """The file behind a download URL whose signature holds and whose time has not passed."""
    if not export_id.isdigit() or not expires.isdigit():
        return None
    if int(expires) < clock.timestamp():
        return None
    export = await session.get(BulkExport, int(export_id))
    if export is None or export.file_name is None or export.status is not ExportStatus.COMPLETED:
        return None
    if not hmac.compare_digest(_signature(export, int(expires)), signature):
        return None
    path = export_dir(settings) / export.file_name
    return path if path.is_file() else None


# --- the runner's records -----------------------------------------------------------------------


async def heartbeat(
    session: AsyncSession, export_id: int, rows: int, total: int | None, errors: list[Any]
) -> bool:
    """Records progress; False when the export is no longer running (cancelled)."""
    values: dict[str, Any] = {"rows_written": rows, "heartbeat_at": clock.now(), "errors": errors}
    if total is not None:
        values["total_rows"] = total
    moved = await session.scalar(
        update(BulkExport)
        .where(BulkExport.id == export_id, BulkExport.status == ExportStatus.RUNNING)
        .values(**values)
        .returning(BulkExport.id)
        .execution_options(synchronize_session=False)
    )
    return moved is not None


async def finish(
    session: AsyncSession,
    export_id: int,
    status: ExportStatus,
    *,
    rows: int,
    errors: list[Any],
    file_name: str | None,
    file_bytes: int | None,
) -> bool:
    now = clock.now()
    moved = await session.scalar(
        update(BulkExport)
        .where(BulkExport.id == export_id, BulkExport.status == ExportStatus.RUNNING)
        .values(
            status=status,
            rows_written=rows,
            errors=errors,
            file_name=file_name,
            file_bytes=file_bytes,
            finished_at=now,
            heartbeat_at=now,
            expires_at=now + RETENTION if file_name else None,
        )
        .returning(BulkExport.id)
        .execution_options(synchronize_session=False)
    )
    return moved is not None


async def expired_files(session: AsyncSession, now: datetime) -> list[tuple[int, str]]:
    """Exports whose file is past its retention (the runner removes the files)."""
    rows = await session.execute(
        select(BulkExport.id, BulkExport.file_name).where(
            BulkExport.expires_at <= now, BulkExport.file_name.is_not(None)
        )
    )
    return [(pk, name) for pk, name in rows.tuples() if name is not None]


async def forget_file(session: AsyncSession, export_id: int) -> None:
    await session.execute(
        update(BulkExport)
        .where(BulkExport.id == export_id)
        .values(file_name=None, file_bytes=None)
        .execution_options(synchronize_session=False)
    )


async def claim_export(
    session: AsyncSession, now: datetime, stale_after: timedelta
) -> tuple[int, int, str] | None:
    """Takes one export to run: a pending one, or a running one whose worker stopped beating
    (it is run again from the start). Returns (id, user id, query)."""
    candidate = await session.scalar(
        select(BulkExport.id)
        .where(
            (BulkExport.status == ExportStatus.PENDING)
            | (
                (BulkExport.status == ExportStatus.RUNNING)
                & (BulkExport.heartbeat_at < now - stale_after)
            )
        )
        .order_by(BulkExport.id)
        .limit(1)
    )
    if candidate is None:
        return None
    row = (
        await session.execute(
            update(BulkExport)
            .where(
                BulkExport.id == candidate,
                (BulkExport.status == ExportStatus.PENDING)
                | (
                    (BulkExport.status == ExportStatus.RUNNING)
                    & (BulkExport.heartbeat_at < now - stale_after)
                ),
            )
            .values(
                status=ExportStatus.RUNNING,
                started_at=now,
                heartbeat_at=now,
                rows_written=0,
                errors=[],
            )
            .returning(BulkExport.id, BulkExport.user_id, BulkExport.query)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    return (row[0], row[1], row[2]) if row is not None else None
