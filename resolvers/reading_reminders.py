"""Reading-due reminders: a few days before a billing period (the month, site time) closes,
every device still without a reading for it gets its responsible people reminded by e-mail:
its device managers, else its account's administrators (else those of the parent account).
One mail per person and period, in the person's language, through the outbox; never twice for
the same period, however many workers run the task at once (`reading_reminders`' unique
constraint decides: the insert that loses sends nothing).

Run by the periodic task of the app's lifespan (`ReadingReminderTask`) and by
`python -m cli send-reading-reminders`."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.policy import ACCOUNT_MANAGER_ROLES, READING_ASSIGNEE_ROLES
from core import clock
from core.polling import PeriodicJob
from mail import enqueue_mail
from models import (
    Account,
    Device,
    Membership,
    MembershipDevice,
    ReadingReminder,
    Site,
    User,
)
from models.enums import DeviceStatus, MembershipStatus
from resolvers.reading_due import reading_due_clause
from resolvers.stock import _dialect_insert
from settings import Settings

log = logging.getLogger("portal.reminders")

TEMPLATE = "meters.reading_due"
# Serial numbers listed in one mail (the rest summed up).
MAX_LISTED = 50


def period_close(today: date) -> date:
    """The last day of the billing period (the month) `today` is in."""
    following = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class DueDevice:
    id: int
    serial: str
    account_id: int
    period_start: date
    closes_on: date


async def due_devices(session: AsyncSession, days_before: int) -> list[DueDevice]:
    """Devices in service without a reading this period, at sites whose period closes within
    `days_before` days (two statements)."""
    zones = list(await session.scalars(select(Site.time_zone).distinct()))
    closing = [z for z in zones if (period_close(t := clock.today_in(z)) - t).days <= days_before]
    if not closing:
        return []
    rows = await session.execute(
        select(Device.id, Device.serial_number, Device.account_id, Site.time_zone)
        .join(Site, Site.id == Device.site_id)
        .where(
            Device.status != DeviceStatus.REMOVED,
            Site.time_zone.in_(closing),
            reading_due_clause(True),
        )
        .order_by(Device.serial_number)
    )
    found = []
    for device_id, serial, account_id, zone in rows.tuples():
        today = clock.today_in(zone)
        found.append(
            DueDevice(device_id, serial, account_id, today.replace(day=1), period_close(today))
        )
    return found


async def responsible_people(
    session: AsyncSession, devices: list[DueDevice]
) -> dict[int, tuple[User, list[DueDevice]]]:
    """Per person: who they are and the due devices they answer for (three statements)."""
    if not devices:
        return {}
    ids = [d.id for d in devices]
    managers: dict[int, list[User]] = defaultdict(list)
    for device_id, user in (
        await session.execute(
            select(MembershipDevice.device_id, User)
            .join(Membership, Membership.id == MembershipDevice.membership_id)
            .join(User, User.id == Membership.user_id)
            .where(
                MembershipDevice.device_id.in_(ids),
                Membership.status == MembershipStatus.ACTIVE,
                Membership.role.in_(READING_ASSIGNEE_ROLES),
                User.is_active.is_(True),
            )
        )
    ).tuples():
        managers[device_id].append(user)
    accounts = sorted({d.account_id for d in devices})
    parents = dict(
        (
            await session.execute(
                select(Account.id, Account.parent_id).where(Account.id.in_(accounts))
            )
        )
        .tuples()
        .all()
    )
    admins: dict[int, list[User]] = defaultdict(list)
    wanted = sorted(set(accounts) | {p for p in parents.values() if p is not None})
    for account_id, user in (
        await session.execute(
            select(Membership.account_id, User)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.account_id.in_(wanted),
                Membership.status == MembershipStatus.ACTIVE,
                Membership.role.in_(ACCOUNT_MANAGER_ROLES),
                User.is_active.is_(True),
            )
        )
    ).tuples():
        admins[account_id].append(user)
    people: dict[int, tuple[User, list[DueDevice]]] = {}
    for device in devices:
        parent = parents.get(device.account_id)
        answering = (
            managers.get(device.id)
            or admins.get(device.account_id)
            or (admins.get(parent, []) if parent is not None else [])
        )
        for user in answering:
            people.setdefault(user.id, (user, []))[1].append(device)
    return people


async def send_reading_reminders(session: AsyncSession, settings: Settings) -> int:
    """Queues the reminders due now, in the caller's transaction; returns how many mails."""
    devices = await due_devices(session, settings.reading_reminder_days)
    people = await responsible_people(session, devices)
    if not people:
        return 0
    # One row per person and period; a person's devices may straddle two periods only for the
    # hours a month turns in one zone and not another: each period is its own reminder.
    wanted: dict[tuple[int, date], list[DueDevice]] = defaultdict(list)
    for user_id, (_, listed) in people.items():
        for device in listed:
            wanted[(user_id, device.period_start)].append(device)
    insert = _dialect_insert(session)
    stmt = (
        insert(ReadingReminder)
        .values(
            [
                {
                    "user_id": user_id,
                    "period_start": period,
                    "device_count": len(listed),
                    "sent_at": clock.now(),
                }
                for (user_id, period), listed in sorted(wanted.items())
            ]
        )
        .on_conflict_do_nothing(index_elements=["user_id", "period_start"])
        .returning(ReadingReminder.user_id, ReadingReminder.period_start)
    )
    won = list((await session.execute(stmt)).tuples())
    for user_id, period in won:
        user = people[user_id][0]
        listed = wanted[(user_id, period)]
        serials = [d.serial for d in listed[:MAX_LISTED]]
        if len(listed) > MAX_LISTED:
            serials.append(f"(+{len(listed) - MAX_LISTED})")
        enqueue_mail(
            session,
            to=user.email,
            language=user.language,
            template=TEMPLATE,
            params={
                "name": user.name,
                "count": len(listed),
                "closes_on": max(d.closes_on for d in listed).isoformat(),
                "devices": "\n".join(f"- {s}" for s in serials),
                "link": f"{settings.public_url.rstrip('/')}/graphql",
            },
        )
    return len(won)


async def run_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    async with sessionmaker() as session, session.begin():
        return await send_reading_reminders(session, settings)


class ReadingReminderTask(PeriodicJob):
    """The periodic task the app's lifespan starts (every `reading_reminder_poll_seconds`;
    safe with many workers: the unique constraint lets one reminder through)."""

    name = "reading-reminders"
    poll_setting = "reading_reminder_poll_seconds"

    async def run_once(self) -> None:
        sent = await run_once(self.sessionmaker, self.settings)
        if sent:
            log.info("reading reminders queued: %s", sent)
