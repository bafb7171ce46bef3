"""A ticket's response clock: the calendar it runs on (a device's site and contract, or an
account question's main site), when the answer is due, and the SLA state now, in Python and
as the same rule in SQL for the list filter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from calendars.business_hours import (
    AT_RISK_KEY,
    CLOCK_COUNTRY_KEY,
    CLOCK_SITE_KEY,
    CLOCK_TIME_ZONE_KEY,
    FROZEN_STATE_KEY,
    Calendar,
    Coverage,
    SlaState,
    response_clock,
    sla_state,
)
from calendars.business_hours import stamp as _stamp
from calendars.business_hours import unstamp as _unstamp
from core import clock
from models import Account, Contract, Device, Site, Ticket
from models.enums import TicketStatus

S = TicketStatus

# Account questions have no device (so no contract of their own): the account's active
# contract gives the coverage when it has one, else these office hours.
DEFAULT_COVERAGE = (time(8, 30), time(17, 30), "12345")
ACCOUNT_QUERY_RESPONSE_HOURS = 16

CLOCK_RUNNING = (S.NEW, S.ASSIGNED, S.IN_PROGRESS)


def ticket_sla(ticket: Ticket, now: datetime | None = None) -> SlaState | None:
    """ON_TRACK / AT_RISK / BREACHED while waiting for the first response (frozen while
    ON_HOLD), MET / BREACHED once answered; null without a clock or cancelled unanswered."""
    due = ticket.response_due_at
    if due is None:
        return None
    responded = ticket.first_responded_at
    if responded is not None:
        return sla_state(due_at=due, at_risk_at=None, responded_at=responded, clock_at=responded)
    if ticket.status is S.ON_HOLD:
        frozen = (ticket.details or {}).get(FROZEN_STATE_KEY)
        if frozen:
            return SlaState(frozen)
    elif ticket.status not in CLOCK_RUNNING:
        return None
    raw_risk = (ticket.details or {}).get(AT_RISK_KEY)
    return sla_state(
        due_at=due,
        at_risk_at=_unstamp(raw_risk) if raw_risk else None,
        responded_at=None,
        clock_at=now or clock.now(),
    )


def sla_clause(state: SlaState, now: datetime) -> ColumnElement[bool]:
    """The same rule as `ticket_sla`, in SQL (for the list filter)."""
    responded = Ticket.first_responded_at
    due = Ticket.response_due_at
    frozen = Ticket.details[FROZEN_STATE_KEY].as_string()
    at_risk = Ticket.details[AT_RISK_KEY].as_string()
    running = and_(responded.is_(None), Ticket.status.in_(CLOCK_RUNNING))
    held = and_(responded.is_(None), Ticket.status == S.ON_HOLD)
    if state is SlaState.MET:
        return and_(responded.is_not(None), responded <= due)
    if state is SlaState.BREACHED:
        return or_(
            and_(responded.is_not(None), responded > due),
            and_(held, frozen == state.value),
            and_(running, due <= now),
        )
    if state is SlaState.AT_RISK:
        return or_(
            and_(held, frozen == state.value),
            and_(running, due > now, at_risk <= _stamp(now)),
        )
    return or_(
        and_(held, frozen == state.value),
        and_(running, due > now, or_(at_risk.is_(None), at_risk > _stamp(now))),
    )


def contract_coverage(contract: Contract, site: Site) -> Coverage:
    return Coverage.of(
        start=contract.coverage_start,
        end=contract.coverage_end,
        days=contract.coverage_days,
        time_zone=site.time_zone,
        country=site.country,
    )


def site_today(site: Site, now: datetime | None = None) -> date:
    return clock.today_in(site.time_zone, now)


async def account_main_site(session: AsyncSession, account: Account) -> Site | None:
    """The site an account question's clock runs on: the account's main site, i.e. its
    lowest-id (oldest) site; an account without sites of its own takes its parent's main site
    (and so on up the tree). None when no account on the way has a site."""
    current: Account | None = account
    seen: set[int] = set()
    while current is not None and current.id not in seen:
        seen.add(current.id)
        site = await session.scalar(
            select(Site).where(Site.account_id == current.id).order_by(Site.id).limit(1)
        )
        if site is not None:
            return site
        parent_id = current.parent_id
        current = await session.get(Account, parent_id) if parent_id is not None else None
    return None


async def account_calendar(session: AsyncSession, account: Account, now: datetime) -> Calendar:
    """Calendar of an account question: the account's main site (`account_main_site`), its
    time zone and public holidays, as for a device there; coverage hours and response time of
    the account's active contract (the one ending last), else office hours and
    ACCOUNT_QUERY_RESPONSE_HOURS. Without any site: UTC and the account's country."""
    site = await account_main_site(session, account)
    time_zone = site.time_zone if site is not None else "UTC"
    country = site.country if site is not None else account.country
    site_id = site.id if site is not None else None
    contracts = await session.scalars(
        select(Contract)
        .where(Contract.account_id == account.id)
        .order_by(Contract.ends_on.desc(), Contract.id)
    )
    today = clock.today_in(time_zone, now)
    contract = next((c for c in contracts if c.is_active_on(today)), None)
    if contract is not None:
        coverage = Coverage.of(
            start=contract.coverage_start,
            end=contract.coverage_end,
            days=contract.coverage_days,
            time_zone=time_zone,
            country=country,
        )
        return Calendar(coverage, timedelta(hours=contract.response_time_hours), site_id)
    start, end, days = DEFAULT_COVERAGE
    coverage = Coverage.of(start=start, end=end, days=days, time_zone=time_zone, country=country)
    return Calendar(coverage, timedelta(hours=ACCOUNT_QUERY_RESPONSE_HOURS), site_id)


async def ticket_calendar(session: AsyncSession, ticket: Ticket, now: datetime) -> Calendar:
    """The calendar a ticket's clock runs on: a device ticket's device site with its contract;
    an account question (or a device without a contract) the account's (`account_calendar`)."""
    if ticket.device_id is not None:
        row = (
            await session.execute(
                select(Site, Contract)
                .select_from(Device)
                .join(Site, Site.id == Device.site_id)
                .outerjoin(Contract, Contract.id == Device.contract_id)
                .where(Device.id == ticket.device_id)
            )
        ).one()
        site, contract = row
        if contract is not None:
            return Calendar(
                contract_coverage(contract, site),
                timedelta(hours=contract.response_time_hours),
                site.id,
            )
    account = await session.get(Account, ticket.account_id)
    assert account is not None
    return await account_calendar(session, account, now)


@dataclass(frozen=True)
class ServiceCalendar:
    """Where a ticket's response clock runs (see `Ticket.serviceCalendar`)."""

    time_zone: str
    country: str | None
    site_id: int | None


async def service_calendar(session: AsyncSession, ticket: Ticket) -> ServiceCalendar | None:
    """The calendar the ticket's clock was started on (kept in its details by `start_clock`);
    None without a clock. A ticket clocked before the calendar was kept gets the rule's answer
    for today's data (`ticket_calendar`)."""
    if ticket.response_due_at is None:
        return None
    details = ticket.details or {}
    if CLOCK_TIME_ZONE_KEY in details:
        site_id = details.get(CLOCK_SITE_KEY)
        return ServiceCalendar(
            time_zone=str(details[CLOCK_TIME_ZONE_KEY]),
            country=details.get(CLOCK_COUNTRY_KEY),
            site_id=int(site_id) if site_id is not None else None,
        )
    calendar = await ticket_calendar(session, ticket, clock.now())
    return ServiceCalendar(calendar.coverage.time_zone, calendar.coverage.country, calendar.site_id)


def start_clock(ticket: Ticket, calendar: Calendar) -> None:
    """(Re)computes the due instant from creation, the response time and the business time
    spent ON_HOLD so far."""
    clock = response_clock(
        ticket.created_at,
        calendar.response_time,
        calendar.coverage,
        on_hold=timedelta(seconds=ticket.on_hold_seconds or 0),
    )
    ticket.response_due_at = clock.due_at
    ticket.details = {
        **(ticket.details or {}),
        AT_RISK_KEY: _stamp(clock.at_risk_at),
        **calendar.details(),
    }
