"""The mail sender: outbox rows are delivered to a real SMTP server in the recipient's language,
or written as .eml files without SMTP_URL; failures back off; claims are exclusive."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core import clock
from mail import enqueue_mail
from mail.sender import MailSender, deliver_pending, parse_smtp_url
from mail.templates import ACCESS_REJECTED
from models import OutboxMessage
from models.session import create_sessionmaker
from settings import Settings
from tests.identity.conftest import SmtpServer, body_of


async def _enqueue(sessionmaker: async_sessionmaker[AsyncSession], to: str, language: str) -> int:
    async with sessionmaker() as session, session.begin():
        message = enqueue_mail(
            session,
            to=to,
            language=language,
            template=ACCESS_REJECTED,
            params={"name": "Zoé", "account_name": "Acme Italia"},
        )
        await session.flush()
        return message.id


async def _row(sessionmaker: async_sessionmaker[AsyncSession], pk: int) -> OutboxMessage:
    async with sessionmaker() as session:
        row = await session.get(OutboxMessage, pk)
        assert row is not None
        return row


async def test_sender_delivers_to_smtp_in_the_recipients_language(
    settings: Settings, smtp_server: SmtpServer, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    pk = await _enqueue(mail_sessionmaker, "zoe@example.com", "it")
    # when
    delivered = await deliver_pending(
        mail_sessionmaker, replace(settings, smtp_url=smtp_server.url)
    )
    # then
    assert delivered == 1
    message = smtp_server.inbox.only("zoe@example.com")
    assert message["Subject"] == "La tua richiesta di accesso per Acme Italia"
    assert message["Content-Language"] == "it"
    assert message["Message-ID"] == f"<outbox-{pk}@portal.example>"
    assert "Buongiorno Zoé" in body_of(message)
    row = await _row(mail_sessionmaker, pk)
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None
    assert "params" not in row.payload  # nothing secret is kept once delivered


async def test_sender_sends_each_message_once(
    settings: Settings, smtp_server: SmtpServer, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given
    await _enqueue(mail_sessionmaker, "once@example.com", "en")
    smtp_settings = replace(settings, smtp_url=smtp_server.url)
    # when
    first = await deliver_pending(mail_sessionmaker, smtp_settings)
    second = await deliver_pending(mail_sessionmaker, smtp_settings)
    # then
    assert (first, second) == (1, 0)
    assert len(smtp_server.inbox.to("once@example.com")) == 1


async def test_without_smtp_url_mail_is_written_as_eml_file(
    settings: Settings,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # given
    var_dir = settings.var_dir / "eml-test"
    pk = await _enqueue(mail_sessionmaker, "file@example.com", "fr")
    # when
    with caplog.at_level("INFO", logger="portal.mail"):
        await deliver_pending(mail_sessionmaker, replace(settings, smtp_url=None, var_dir=var_dir))
    # then
    files = list((var_dir / "mail").glob(f"*-{pk}.eml"))
    assert len(files) == 1
    text = files[0].read_text()
    assert "To: file@example.com" in text
    assert "Subject: Votre demande" in text or "Subject: =?utf-8?" in text
    assert str(files[0]) in caplog.text


async def test_failed_delivery_backs_off_and_keeps_the_error(
    settings: Settings, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given: nothing listens on this port
    dead = replace(settings, smtp_url="smtp://127.0.0.1:9")
    pk = await _enqueue(mail_sessionmaker, "later@example.com", "en")
    before = clock.now()
    # when
    delivered = await deliver_pending(mail_sessionmaker, dead)
    again = await deliver_pending(mail_sessionmaker, dead)
    # then: not retried before the backoff has passed
    assert (delivered, again) == (0, 0)
    row = await _row(mail_sessionmaker, pk)
    assert row.sent_at is None and row.attempts == 1
    assert row.last_error
    assert row.available_at >= before + timedelta(seconds=29)


async def test_gives_up_after_max_attempts(
    settings: Settings, mail_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # given: a mail that failed as often as allowed
    pk = await _enqueue(mail_sessionmaker, "never@example.com", "en")
    async with mail_sessionmaker() as session, session.begin():
        row = await session.get(OutboxMessage, pk)
        assert row is not None
        row.attempts = settings.mail_max_attempts
    # when
    delivered = await deliver_pending(mail_sessionmaker, replace(settings, smtp_url=None))
    # then
    assert delivered == 0
    assert (await _row(mail_sessionmaker, pk)).sent_at is None


def test_smtp_url_forms() -> None:
    assert parse_smtp_url("smtp://mail:2525").port == 2525
    secure = parse_smtp_url("smtps://user%40x:p%3Ass@mail.example")
    assert (secure.port, secure.use_tls, secure.username, secure.password) == (
        465,
        True,
        "user@x",
        "p:ss",
    )
    assert parse_smtp_url("smtp+starttls://mail").start_tls is True
    with pytest.raises(ValueError):
        parse_smtp_url("http://mail")


async def test_concurrent_senders_deliver_each_message_exactly_once(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    # given: committed mails and three workers with their own connections
    committed = create_sessionmaker(engine)
    ids = [await _enqueue(committed, f"race{i}@example.com", "en") for i in range(12)]
    smtp_settings = replace(settings, smtp_url=smtp_server.url)
    try:
        # when
        counts = await asyncio.gather(
            *(
                deliver_pending(create_sessionmaker(engine), smtp_settings, limit=5)
                for _ in range(3)
            )
        )
        while sum(counts) < len(ids) and (more := await deliver_pending(committed, smtp_settings)):
            counts.append(more)
        # then
        received = [m["To"] for m in smtp_server.inbox.messages if m["To"].startswith("race")]
        assert sorted(received) == sorted(f"race{i}@example.com" for i in range(12))
        async with committed() as session:
            sent = await session.scalars(
                select(OutboxMessage.attempts).where(OutboxMessage.id.in_(ids))
            )
            assert set(sent) == {1}
    finally:
        async with committed() as session, session.begin():
            await session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(ids)))


async def test_background_sender_delivers_without_being_driven(
    settings: Settings, engine: AsyncEngine, smtp_server: SmtpServer
) -> None:
    # given: the loop the app's lifespan starts, on its own connections
    committed = create_sessionmaker(engine)
    sender = MailSender(
        committed, replace(settings, smtp_url=smtp_server.url, mail_poll_seconds=0.05)
    )
    sender.start()
    pk = None
    try:
        # when
        pk = await _enqueue(committed, "loop@example.com", "fr")
        for _ in range(100):
            if smtp_server.inbox.to("loop@example.com"):
                break
            await asyncio.sleep(0.05)
    finally:
        await sender.stop()
        if pk is not None:
            async with committed() as session, session.begin():
                await session.execute(delete(OutboxMessage).where(OutboxMessage.id == pk))
    # then
    assert smtp_server.inbox.only("loop@example.com")["Content-Language"] == "fr"
