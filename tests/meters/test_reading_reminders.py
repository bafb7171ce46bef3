"""Reading-due reminders: one mail per responsible person (device managers, else the
account's administrators), in their language, through the outbox and a real SMTP server, never
twice for the same period."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from models import Membership, MembershipDevice, ReadingReminder, User
from models.enums import Role
from resolvers.reading_reminders import ReadingReminderTask, period_close, run_once
from settings import Settings
from tests.identity.conftest import (  # noqa: F401 (fixtures)
    Inbox,
    body_of,
    deliver_mail,
    mail_sessionmaker,
    smtp_server,
)
from tests.meters.helpers import new_device
from tests.periodic import first_pass

MANAGER = "devices@acme.example"
ADMIN_FR = "admin.fr@acme.example"


async def _managed_by(connection: AsyncConnection, device_id: int, email: str) -> None:
    membership = await connection.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == email, Membership.role == Role.DEVICE_MANAGER)
    )
    await connection.execute(
        insert(MembershipDevice).values(membership_id=membership, device_id=device_id)
    )


def test_period_close() -> None:
    assert period_close(date(2028, 2, 10)) == date(2028, 2, 29)
    assert period_close(date(2027, 12, 31)) == date(2027, 12, 31)
    assert period_close(date(2027, 4, 1)) == date(2027, 4, 30)


@pytest.mark.dates
async def test_reminders_once_per_person_and_period(
    connection: AsyncConnection,
    settings: Settings,
    mail_sessionmaker: async_sessionmaker[AsyncSession],  # noqa: F811
    deliver_mail: Callable[[], Awaitable[Inbox]],  # noqa: F811
) -> None:
    # given: two devices never read, one with a device manager, one without
    managed = await new_device(connection, "REMIND-MANAGED", date(2024, 12, 1))
    await new_device(connection, "REMIND-ORPHAN", date(2024, 12, 1))
    await _managed_by(connection, managed, MANAGER)
    always = replace(settings, reading_reminder_days=31)  # whatever the day of the month
    # when
    first = await run_once(mail_sessionmaker, always)
    inbox = await deliver_mail()
    again = await run_once(mail_sessionmaker, always)
    delivered_again = len((await deliver_mail()).messages)
    # then: the device manager hears of their device, the administrator of the other one
    assert first > 0 and again == 0
    assert delivered_again == len(inbox.messages)
    to_manager = inbox.only(MANAGER)
    assert "REMIND-MANAGED" in body_of(to_manager) and "REMIND-ORPHAN" not in body_of(to_manager)
    to_admin = inbox.only(ADMIN_FR)
    assert "REMIND-ORPHAN" in body_of(to_admin) and "REMIND-MANAGED" not in body_of(to_admin)
    # in their language (both French)
    assert to_manager["Subject"].startswith("Relevés de compteurs attendus")
    assert "Bonjour Daniel Devices" in body_of(to_manager)
    # one reminder row per person and period, never a second
    rows = await connection.scalar(select(func.count()).select_from(ReadingReminder))
    assert rows == first


@pytest.mark.dates
async def test_no_reminder_outside_the_window_or_for_read_devices(
    connection: AsyncConnection,
    settings: Settings,
    mail_sessionmaker: async_sessionmaker[AsyncSession],  # noqa: F811
) -> None:
    # given: no site closes its period within -1 days
    await new_device(connection, "REMIND-NEVER", date(2024, 12, 1))
    # when
    sent = await run_once(mail_sessionmaker, replace(settings, reading_reminder_days=-1))
    # then
    assert sent == 0
    assert await connection.scalar(select(func.count()).select_from(ReadingReminder)) == 0


async def test_the_database_refuses_a_second_reminder(connection: AsyncConnection) -> None:
    # given
    user = await connection.scalar(select(User.id).where(User.email == MANAGER))
    row = {"user_id": user, "period_start": date(2027, 1, 1), "device_count": 1}
    await connection.execute(insert(ReadingReminder).values(**row))
    # when / then
    with pytest.raises(IntegrityError):
        async with connection.begin_nested():
            await connection.execute(insert(ReadingReminder).values(**row))


@pytest.mark.dates
async def test_the_periodic_task_sends_them(
    connection: AsyncConnection,
    settings: Settings,
    mail_sessionmaker: async_sessionmaker[AsyncSession],  # noqa: F811
) -> None:
    # given: the task the app's lifespan starts
    await new_device(connection, "REMIND-TASK", date(2024, 12, 1))
    task = ReadingReminderTask(mail_sessionmaker, replace(settings, reading_reminder_days=31))
    # when: its first pass runs at once
    await first_pass(task)
    # then
    assert await connection.scalar(select(func.count()).select_from(ReadingReminder))
