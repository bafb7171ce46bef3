"""Fixtures of the identity tests: a real SMTP server (aiosmtpd) and a way to run the mail
sender once, on the test's own connection."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from core.ids import global_id
from mail.sender import deliver_pending
from models import Account, AuditLogEntry, Device, Membership, Site, User
from models.session import create_sessionmaker
from settings import Settings
from tests.servers import free_port

TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_\-]+)")


@dataclass
class Inbox:
    """What the SMTP server received, parsed."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def only(self, address: str) -> EmailMessage:
        found = self.to(address)
        assert len(found) == 1, [m["Subject"] for m in self.messages]
        return found[0]


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token_in(message: EmailMessage) -> str:
    match = TOKEN_IN_LINK.search(body_of(message))
    assert match is not None, body_of(message)
    return match.group(1)


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
def mail_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Same connection (and rolled-back transaction) as the app under test."""
    return create_sessionmaker(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
def deliver_mail(
    settings: Settings,
    smtp_server: SmtpServer,
    mail_sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[], Awaitable[Inbox]]:
    """Runs the sender once against the real SMTP server and returns its inbox."""
    smtp_settings = replace(settings, smtp_url=smtp_server.url)

    async def run() -> Inbox:
        await deliver_pending(mail_sessionmaker, smtp_settings)
        return smtp_server.inbox

    return run


@dataclass(frozen=True)
class AccountFixture:
    id: int
    global_id: str
    customer_account_number: str
    serial_number: str
    device_ids: list[int]


async def account_by_number(
    sessionmaker: async_sessionmaker[AsyncSession], customer_account_number: str
) -> AccountFixture:
    async with sessionmaker() as session:
        account = await session.scalar(
            select(Account).where(Account.customer_account_number == customer_account_number)
        )
        assert account is not None
        devices = list(
            await session.scalars(
                select(Device).where(Device.account_id == account.id).order_by(Device.id)
            )
        )
        return AccountFixture(
            account.id,
            global_id("Account", account.id),
            customer_account_number,
            devices[0].serial_number,
            [d.id for d in devices],
        )


@pytest.fixture
async def orphan_account(mail_sessionmaker: async_sessionmaker[AsyncSession]) -> AccountFixture:
    """A customer account nobody administers yet, with one device."""
    async with mail_sessionmaker() as session, session.begin():
        model_id = await session.scalar(select(Device.product_model_id).limit(1))
        account = Account(
            name="Initech",
            customer_account_number="C-300000",
            system_account_number="S-930000",
            country="IT",
            language="it",
        )
        session.add(account)
        await session.flush()
        site = Site(
            account_id=account.id,
            name="Initech Roma",
            street="Via del Corso 1",
            postal_code="00186",
            city="Roma",
            country="IT",
            time_zone="Europe/Rome",
        )
        session.add(site)
        await session.flush()
        device = Device(
            serial_number="INI0000001",
            product_model_id=model_id,
            account_id=account.id,
            site_id=site.id,
            installed_on=date(2024, 1, 1),
        )
        session.add(device)
        await session.flush()
        return AccountFixture(
            account.id, global_id("Account", account.id), "C-300000", "INI0000001", [device.id]
        )


async def audit_actions(
    sessionmaker: async_sessionmaker[AsyncSession], object_type: str, object_id: int
) -> list[str]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                select(AuditLogEntry.action)
                .where(
                    AuditLogEntry.object_type == object_type, AuditLogEntry.object_id == object_id
                )
                .order_by(AuditLogEntry.id)
            )
        )


async def remove_committed_account(
    session: AsyncSession, account_id: int, user_ids: list[int]
) -> None:
    """Removes what a test committed for a throwaway account: its people's audit entries, its
    memberships, the people and the account."""
    await session.execute(delete(AuditLogEntry).where(AuditLogEntry.actor_user_id.in_(user_ids)))
    await session.execute(delete(Membership).where(Membership.account_id == account_id))
    await session.execute(delete(User).where(User.id.in_(user_ids)))
    await session.execute(delete(Account).where(Account.id == account_id))
