"""The asynchronous mail sender: claims unsent EMAIL rows of the outbox, renders them in the
recipient's language and delivers them to `SMTP_URL` (or, without one, writes `.eml` files
under `var/mail/` and logs where).

Several workers may run it at once: a row is claimed by pushing its `available_at` forward (a
lease) inside a short transaction. On PostgreSQL the candidates are read with
`FOR UPDATE SKIP LOCKED`, so workers never wait for each other; on SQLite (one writer at a time)
each claim is a conditional UPDATE that only succeeds if nobody claimed the row in between. A
failed delivery is retried with exponential backoff until `mail_max_attempts`; the last error is
kept on the row. After delivery the template parameters (which may hold one-time tokens) are
dropped from the stored payload.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import mail
from core import clock
from core.polling import PollingLoop
from models import OutboxMessage
from models.enums import OutboxKind
from settings import Settings

log = logging.getLogger("portal.mail")

# How long a claimed row stays invisible to other workers while it is being delivered.
LEASE = timedelta(minutes=2)
BACKOFF_BASE_SECONDS = 30
BACKOFF_MAX_SECONDS = 3600
BATCH_SIZE = 50
SMTP_TIMEOUT_SECONDS = 30
# Spans (when tracing is installed, observability/tracing.py): one per mail sent, its SMTP
# exchange and its outbox update under it; the polling itself is not traced.
_tracer = trace.get_tracer("portal.mail")


@dataclass(frozen=True)
class Claimed:
    id: int
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://[user:pass@]host[:port]` (STARTTLS when offered), `smtp+starttls://` (required),
    `smtps://` (implicit TLS)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in {"smtp", "smtps", "smtp+starttls"} or not parts.hostname:
        raise ValueError(f"unsupported SMTP_URL {url!r}")
    default_port = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}[scheme]
    return SmtpTarget(
        hostname=parts.hostname,
        port=parts.port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=scheme == "smtps",
        start_tls=True if scheme == "smtp+starttls" else None,
    )


def _pending(settings: Settings, now: datetime) -> ColumnElement[bool]:
    return and_(
        OutboxMessage.kind == OutboxKind.EMAIL,
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.available_at <= now,
        OutboxMessage.attempts < settings.mail_max_attempts,
    )


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, limit: int
) -> list[Claimed]:
    """One statement: push the lease of up to `limit` due rows forward and return them. On
    PostgreSQL the candidates are locked with SKIP LOCKED (rows another worker is claiming are
    passed over); SQLite runs one writer at a time, so the conditional UPDATE is the claim."""
    now = clock.now()
    async with sessionmaker() as session, session.begin():
        candidates = (
            select(OutboxMessage.id)
            .where(_pending(settings, now))
            .order_by(OutboxMessage.available_at, OutboxMessage.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        rows = await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(candidates.scalar_subquery()), _pending(settings, now))
            .values(available_at=now + LEASE, attempts=OutboxMessage.attempts + 1)
            .returning(
                OutboxMessage.id,
                OutboxMessage.payload,
                OutboxMessage.attempts,
                OutboxMessage.created_at,
            )
            .execution_options(synchronize_session=False)
        )
        claimed = [
            Claimed(pk, dict(payload), attempts, created) for pk, payload, attempts, created in rows
        ]
    return sorted(claimed, key=lambda c: c.id)


def build_message(claimed: Claimed, settings: Settings) -> EmailMessage:
    payload = claimed.payload
    language = payload.get("language") or "en"
    subject, body = mail.render(payload["template"], language, payload.get("params") or {})
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = payload["to"]
    message["Subject"] = subject
    message["Date"] = format_datetime(clock.now())
    # Stable per outbox row, so a receiver can drop the duplicate of a retried delivery.
    message["Message-ID"] = f"<outbox-{claimed.id}@{domain}>"
    message.set_content(body)  # replaces every Content-* header, so it goes first
    message["Content-Language"] = language
    return message


def _write_eml(directory: Path, name: str, data: bytes) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


async def _deliver(message: EmailMessage, claimed: Claimed, settings: Settings) -> None:
    if settings.smtp_url:
        target = parse_smtp_url(settings.smtp_url)
        with _tracer.start_as_current_span(
            "smtp send",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "server.address": target.hostname,
                "server.port": target.port,
                "portal.mail.template": str(claimed.payload.get("template", "")),
            },
        ):
            await _send_smtp(message, target)
        log.info("mail %s sent to %s", claimed.id, message["To"])
        return
    name = f"{claimed.created_at:%Y%m%dT%H%M%S}-{claimed.id}.eml"
    path = await asyncio.to_thread(_write_eml, settings.var_dir / "mail", name, message.as_bytes())
    log.info("mail %s to %s written to %s (no SMTP_URL set)", claimed.id, message["To"], path)


async def _send_smtp(message: EmailMessage, target: SmtpTarget) -> None:
    await aiosmtplib.send(
        message,
        hostname=target.hostname,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession],
    claimed: Claimed,
    error: str | None,
) -> None:
    now = clock.now()
    if error is None:
        kept = {k: v for k, v in claimed.payload.items() if k != "params"}
        values: dict[str, Any] = {"sent_at": now, "last_error": None, "payload": kept}
    else:
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (claimed.attempts - 1), BACKOFF_MAX_SECONDS)
        values = {"available_at": now + timedelta(seconds=delay), "last_error": error[:2000]}
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def deliver_pending(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    limit: int = BATCH_SIZE,
) -> int:
    """Claims up to `limit` due mails and delivers them; returns how many were delivered."""
    delivered = 0
    with suppress_instrumentation():  # a poll every second: not a trace each
        batch = await _claim(sessionmaker, settings, limit)
    for claimed in batch:
        with _tracer.start_as_current_span(
            "mail deliver", attributes={"portal.outbox.attempt": claimed.attempts}
        ) as span:
            try:
                message = build_message(claimed, settings)
                await _deliver(message, claimed, settings)
            except Exception as exc:  # one bad mail must not stop the others
                log.warning(
                    "mail %s failed (attempt %s): %s",
                    claimed.id,
                    claimed.attempts,
                    exc,
                    exc_info=True,
                )
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                await _finish(sessionmaker, claimed, f"{type(exc).__name__}: {exc}")
            else:
                await _finish(sessionmaker, claimed, None)
                delivered += 1
    return delivered


class MailSender(PollingLoop):
    """The background loop the app's lifespan starts: polls every `mail_poll_seconds`, and at
    once again while full batches keep coming (a mail cut off by a stop is sent again once its
    lease runs out)."""

    name = "mail-sender"

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        super().__init__()
        self.sessionmaker = sessionmaker
        self.settings = settings

    @property
    def poll_seconds(self) -> float:
        return self.settings.mail_poll_seconds

    async def run_pass(self) -> bool:
        return await deliver_pending(self.sessionmaker, self.settings) >= BATCH_SIZE
