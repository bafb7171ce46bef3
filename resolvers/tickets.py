"""Tickets: creation (faults, supplies, account questions, move and removal requests), the
status lifecycle per side, comments, the business-hours response clock, and the scoped list.

Every change writes a `TicketEvent` (the ticket's history), a mail to the ticket's contact
through the outbox, and - after the commit - a message to the event broker for live updates.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import i18n
from auth.policy import Permission, ticket_transitions, works_tickets
from calendars.business_hours import (
    AT_RISK_KEY,
    CLOCK_COUNTRY_KEY,
    CLOCK_SITE_KEY,
    CLOCK_TIME_ZONE_KEY,
    FROZEN_STATE_KEY,
    ON_HOLD_SINCE_KEY,
    Calendar,
    Coverage,
    SlaState,
    business_time_between,
    response_clock,
    sla_state,
)
from calendars.business_hours import stamp as _stamp
from calendars.business_hours import unstamp as _unstamp
from core import clock
from core.errors import Forbidden, NotFound, UserError
from core.ids import decode_id
from mail import enqueue_mail
from models import Account, Contract, Device, Site, Ticket, TicketComment, TicketEvent
from models.enums import OPEN_TICKET_STATUSES, DeviceStatus, TicketStatus, TicketType
from models.ticket import TicketNumberCounter
from pubsub.tickets import TicketEventMessage
from resolvers.accounts import account_tree
from resolvers.audit import audit
from resolvers.pagination import Page, PageRequest, SortField, paginate
from resolvers.scoping import Scope
from resolvers.search import contains

if TYPE_CHECKING:
    from schema.context import Context, Info

P = Permission
S = TicketStatus

# Account questions have no device (so no contract of their own): the account's active
# contract gives the coverage when it has one, else these office hours.
DEFAULT_COVERAGE = (time(8, 30), time(17, 30), "12345")
ACCOUNT_QUERY_RESPONSE_HOURS = 16

OPEN = OPEN_TICKET_STATUSES
CLOCK_RUNNING = (S.NEW, S.ASSIGNED, S.IN_PROGRESS)

MAX_SUMMARY = 200
MAX_TEXT = 10_000
MAX_REASON = 500


# Ticket statuses as people read them (mails, messages): `ticket_status.<value>` in locale/.
STATUS_LABELS: dict[TicketStatus, i18n.Localized] = {
    status: i18n.Localized(f"ticket_status.{status.value}") for status in TicketStatus
}


# --- permissions on a ticket ---------------------------------------------------------------


def ticket_permissions(scope: Scope, ticket: Ticket) -> frozenset[Permission]:
    """What the viewer may do on a ticket: what it holds on the ticket's device, or on the
    account for an account question."""
    if ticket.device_id is None:
        return scope.permissions_on_account(ticket.account_id)
    return scope.device_permissions(
        account_id=ticket.account_id,
        device_id=ticket.device_id,
        stock_location_id=None,
        e_maintenance=False,
    )


def sees_internal(scope: Scope, ticket: Ticket) -> bool:
    return P.VIEW_INTERNAL_NOTES in ticket_permissions(scope, ticket)


def customer_permission(ticket_type: TicketType) -> Permission:
    """The permission a customer needs to raise (and then follow up) a ticket of this type."""
    if ticket_type is TicketType.ACCOUNT_QUERY:
        return P.ASK_ACCOUNT_QUESTIONS
    if ticket_type in (TicketType.MOVE, TicketType.REMOVAL):
        return P.REQUEST_DEVICE_CHANGES
    return P.CREATE_TICKETS


# --- the response clock --------------------------------------------------------------------


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


def _contract_coverage(contract: Contract, site: Site) -> Coverage:
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
                _contract_coverage(contract, site),
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


# --- numbers -------------------------------------------------------------------------------


async def allocate_number(session: AsyncSession, year: int) -> str:
    """Next number of the year: one atomic `UPDATE ... RETURNING` on the year's counter row
    (the row lock orders concurrent creators); the row is inserted race-free when missing."""
    bump = (
        update(TicketNumberCounter)
        .where(TicketNumberCounter.year == year)
        .values(last_number=TicketNumberCounter.last_number + 1)
        .returning(TicketNumberCounter.last_number)
        .execution_options(synchronize_session=False)
    )
    number = await session.scalar(bump)
    if number is None:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        await session.execute(
            insert(TicketNumberCounter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
        number = await session.scalar(bump)
    assert number is not None
    return f"T-{year}-{int(number):06d}"


# --- writes --------------------------------------------------------------------------------


@dataclass
class Contact:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    language: str | None = None


@dataclass
class TicketSpec:
    type: TicketType
    summary: str
    description: str = ""
    device_id: int | None = None
    account_id: int | None = None
    symptom_category: str | None = None
    contact: Contact | None = None
    idempotency_key: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # For move / removal requests: the device status the request sets.
    device_status: DeviceStatus | None = None


@dataclass
class Outcome:
    """What a write produced: the ticket, and the events to announce once committed."""

    ticket: Ticket
    device: Device | None = None
    messages: list[TicketEventMessage] = field(default_factory=list)


def _visible(text: str) -> bool:
    """Whether the text shows anything: not only spaces, format characters (zero-width
    spaces and joiners, BOM, bidi marks) and other invisible code points."""
    return any(
        not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc", "Zs", "Mn") for ch in text
    )


def check_text(value: str | None, field_name: list[str], limit: int, *, required: bool) -> str:
    text = (value or "").strip()
    if required and not _visible(text):
        raise UserError("TICKET_FIELD_REQUIRED", field_name)
    if len(text) > limit:
        raise UserError("VALUE_TOO_LONG", field_name, max=limit)
    return text


def _contact(context: Context, scope: Scope, contact: Contact | None) -> Contact:
    """The given contact, completed from the signed-in user."""
    user = scope.user
    given = contact or Contact()
    name = check_text(
        given.name or (user.name if user else None),
        ["input", "contact", "name"],
        200,
        required=True,
    )
    email = check_text(
        given.email or (user.email if user else None),
        ["input", "contact", "email"],
        254,
        required=True,
    )
    local, _, domain = email.partition("@")
    if not local or "." not in domain or " " in email:
        raise UserError("CONTACT_EMAIL_INVALID", ["input", "contact", "email"])
    phone = check_text(given.phone, ["input", "contact", "phone"], 50, required=False) or None
    language = given.language if given.language in i18n.SUPPORTED else None
    if language is None:
        language = user.language if user is not None and user.language in i18n.SUPPORTED else "en"
    return Contact(name=name, phone=phone, email=email, language=language)


def _event(
    ticket: Ticket,
    actor_id: int | None,
    kind: str,
    *,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    comment: TicketComment | None = None,
    at: datetime,
) -> TicketEvent:
    return TicketEvent(
        ticket_id=ticket.id,
        actor_user_id=actor_id,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        comment_id=comment.id if comment is not None else None,
        internal=bool(comment is not None and comment.internal),
        created_at=at,
    )


def _message(ticket: Ticket, event: TicketEvent) -> TicketEventMessage:
    return TicketEventMessage(
        event_id=event.id,
        ticket_id=ticket.id,
        account_id=ticket.account_id,
        internal=event.internal,
    )


def _due_text(ticket: Ticket, language: str, time_zone: str) -> str:
    if ticket.response_due_at is None:
        return "-"
    local = ticket.response_due_at.astimezone(ZoneInfo(time_zone))
    pattern = "%Y-%m-%d %H:%M" if language == "en" else "%d/%m/%Y %H:%M"
    return f"{local.strftime(pattern)} ({time_zone})"


def _mail_status(session: AsyncSession, ticket: Ticket) -> None:
    language = ticket.contact_language
    enqueue_mail(
        session,
        to=ticket.contact_email,
        language=language,
        template="ticket_status_changed",
        params={
            "number": ticket.number,
            "summary": ticket.summary,
            "name": ticket.contact_name,
            "status": STATUS_LABELS[ticket.status].word(language),
        },
    )


async def _existing(session: AsyncSession, user_id: int, key: str) -> Ticket | None:
    return await session.scalar(
        select(Ticket).where(Ticket.created_by_user_id == user_id, Ticket.idempotency_key == key)
    )


async def _visible_device(
    session: AsyncSession, scope: Scope, device_id: int, language: str
) -> tuple[Device, Site, Contract | None]:
    row = (
        await session.execute(
            select(Device, Site, Contract)
            .join(Site, Site.id == Device.site_id)
            .outerjoin(Contract, Contract.id == Device.contract_id)
            .where(Device.id == device_id, scope.devices_clause())
        )
    ).one_or_none()
    if row is None:
        raise NotFound(language=language)
    device, site, contract = row
    return device, site, contract


async def create_ticket(
    context: Context, spec: TicketSpec, messages: list[TicketEventMessage]
) -> Outcome:
    """Validates, allocates a number, stores the ticket with its first event and mail; with
    an idempotency key, a retry of the same user gets the ticket it already created."""
    session = context.session
    scope = await context.require_scope()
    language = context.language
    user_id = scope.user_id
    key = (spec.idempotency_key or "").strip() or None
    if key is not None:
        if len(key) > 100:
            raise UserError("VALUE_TOO_LONG", ["input", "idempotencyKey"], max=100)
        if user_id is not None:
            existing = await _existing(session, user_id, key)
            if existing is not None:
                return Outcome(existing)

    now = clock.now()
    device: Device | None = None
    if spec.type is TicketType.ACCOUNT_QUERY:
        if spec.device_id is not None:
            raise UserError("ACCOUNT_QUERY_WITHOUT_DEVICE", ["input", "deviceId"])
        if spec.account_id is None:
            raise UserError("TICKET_FIELD_REQUIRED", ["input", "accountId"])
        account = await session.scalar(
            select(Account).where(Account.id == spec.account_id, scope.accounts_clause())
        )
        if account is None:
            raise NotFound(language=language)
        if P.ASK_ACCOUNT_QUESTIONS not in scope.permissions_on_account(account.id):
            raise Forbidden(language=language, required=P.ASK_ACCOUNT_QUESTIONS.value)
        calendar = await account_calendar(session, account, now)
        account_id = account.id
        time_zone = calendar.coverage.time_zone
    else:
        if spec.device_id is None:
            raise UserError("TICKET_FIELD_REQUIRED", ["input", "deviceId"])
        device, site, contract = await _visible_device(session, scope, spec.device_id, language)
        require_on_device(scope, device, customer_permission(spec.type), language)
        if device.status is DeviceStatus.REMOVED:
            raise UserError("DEVICE_REMOVED", ["input", "deviceId"])
        if contract is None or not contract.is_active_on(site_today(site, now)):
            raise UserError("CONTRACT_INACTIVE", ["input", "deviceId"])
        if spec.device_status is not None and device.status is not DeviceStatus.ACTIVE:
            raise UserError("DEVICE_CHANGE_PENDING", ["input", "deviceId"])
        calendar = Calendar(
            _contract_coverage(contract, site),
            timedelta(hours=contract.response_time_hours),
            site.id,
        )
        account_id = device.account_id
        time_zone = site.time_zone

    summary = check_text(spec.summary, ["input", "summary"], MAX_SUMMARY, required=True)
    description = check_text(spec.description, ["input", "description"], MAX_TEXT, required=False)
    contact = _contact(context, scope, spec.contact)

    async def insert() -> Ticket:
        ticket = Ticket(
            number=await allocate_number(session, now.year),
            type=spec.type,
            status=S.NEW,
            account_id=account_id,
            device_id=device.id if device is not None else None,
            created_by_user_id=user_id,
            contact_name=contact.name,
            contact_phone=contact.phone,
            contact_email=contact.email,
            contact_language=contact.language,
            summary=summary,
            description=description,
            symptom_category=spec.symptom_category,
            details=dict(spec.details),
            idempotency_key=key,
            created_at=now,
            updated_at=now,
            on_hold_seconds=0,
            version=1,
        )
        start_clock(ticket, calendar)
        session.add(ticket)
        await session.flush()
        return ticket

    if key is not None and user_id is not None:
        try:
            async with session.begin_nested():
                ticket = await insert()
        except IntegrityError:
            # A concurrent retry with the same key won the race: answer with its ticket.
            existing = await _existing(session, user_id, key)
            if existing is None:
                raise
            return Outcome(existing)
    else:
        ticket = await insert()

    if device is not None and spec.device_status is not None:
        device.status = spec.device_status
        device.version += 1
    event = _event(ticket, user_id, "CREATED", to_status=S.NEW, at=now)
    await _record_event(session, messages, ticket, event)
    enqueue_mail(
        session,
        to=ticket.contact_email,
        language=ticket.contact_language,
        template="ticket_created",
        params={
            "number": ticket.number,
            "summary": ticket.summary,
            "name": ticket.contact_name,
            "due": _due_text(ticket, ticket.contact_language, time_zone),
        },
    )
    audit(
        context,
        f"ticket.create.{spec.type.value.lower()}",
        "Ticket",
        ticket.id,
        {"number": ticket.number, "deviceId": ticket.device_id},
    )
    return Outcome(ticket, device)


def require_on_device(scope: Scope, device: Device, permission: Permission, language: str) -> None:
    if permission not in scope.permissions_on_device(device):
        raise Forbidden(language=language, required=permission.value)


async def visible_ticket(context: Context, ticket_id: int, *, lock: bool = False) -> Ticket:
    scope = await context.require_scope()
    stmt = select(Ticket).where(Ticket.id == ticket_id, scope.tickets_clause())
    if lock:
        stmt = stmt.with_for_update()
    ticket = await context.session.scalar(stmt)
    if ticket is None:
        raise NotFound(language=context.language)
    return ticket


async def update_ticket_status(
    context: Context,
    ticket_id: int,
    status: TicketStatus,
    version: int,
    comment_body: str | None,
    messages: list[TicketEventMessage],
) -> Ticket:
    scope = await context.require_scope()
    session = context.session
    ticket = await visible_ticket(context, ticket_id, lock=True)
    perms = ticket_permissions(scope, ticket)
    agent = works_tickets(perms)
    if not agent and customer_permission(ticket.type) not in perms:
        raise Forbidden(language=context.language, required=P.WORK_TICKETS.value)
    if ticket.version != version:
        raise UserError("STALE_VERSION", ["input", "version"])
    before = ticket.status
    allowed = ticket_transitions(perms).get(before, frozenset())
    own = ticket.created_by_user_id is not None and ticket.created_by_user_id == scope.user_id
    if status not in allowed or (
        not agent and status is S.CANCELLED and (before not in OPEN or not own)
    ):
        raise UserError(
            "TICKET_TRANSITION_NOT_ALLOWED",
            ["input", "status"],
            from_status=STATUS_LABELS[before],
            to_status=STATUS_LABELS[status],
        )
    now = clock.now()
    body = check_text(comment_body, ["input", "comment"], MAX_TEXT, required=False)

    # The response clock: stops while ON_HOLD, and the business time held pushes it back.
    details = dict(ticket.details or {})
    if status is S.ON_HOLD:
        details[ON_HOLD_SINCE_KEY] = _stamp(now)
        frozen = ticket_sla(ticket, now)
        if frozen is not None:
            details[FROZEN_STATE_KEY] = frozen.value
        ticket.details = details
    elif before is S.ON_HOLD:
        since = details.pop(ON_HOLD_SINCE_KEY, None)
        details.pop(FROZEN_STATE_KEY, None)
        ticket.details = details
        if since is not None:
            calendar = await ticket_calendar(session, ticket, now)
            held = business_time_between(_unstamp(since), now, calendar.coverage)
            ticket.on_hold_seconds = (ticket.on_hold_seconds or 0) + int(held.total_seconds())
            start_clock(ticket, calendar)
    # The vendor has answered once it writes to the customer or settles the ticket; moving
    # it along without a word is not an answer.
    if agent and ticket.first_responded_at is None and (body or status not in OPEN):
        ticket.first_responded_at = now
    if status is S.RESOLVED:
        ticket.resolved_at = now
    if status in (S.CLOSED, S.CANCELLED):
        ticket.closed_at = now
    if status is S.IN_PROGRESS and before is S.RESOLVED:
        ticket.resolved_at = None
    ticket.status = status
    ticket.version += 1
    ticket.updated_at = now

    comment = None
    if body:
        comment = await _add_comment(session, ticket, scope.user_id, body, internal=False, at=now)
    event = _event(
        ticket,
        scope.user_id,
        "STATUS_CHANGED",
        from_status=before,
        to_status=status,
        comment=comment,
        at=now,
    )
    await _record_event(session, messages, ticket, event)
    _mail_status(session, ticket)
    if ticket.device_id is not None and ticket.type in (TicketType.MOVE, TicketType.REMOVAL):
        await _settle_device_request(session, ticket, status)
    audit(context, "ticket.status", "Ticket", ticket.id, {"from": before.value, "to": status.value})
    return ticket


async def _settle_device_request(
    session: AsyncSession, ticket: Ticket, status: TicketStatus
) -> None:
    """A cancelled move/removal request puts the device back to ACTIVE; a completed removal
    marks it REMOVED (never deleted); a completed move puts it at its new place."""
    device = await session.get(Device, ticket.device_id)
    if device is None:
        return
    pending = (
        DeviceStatus.MOVE_PENDING
        if ticket.type is TicketType.MOVE
        else DeviceStatus.REMOVAL_PENDING
    )
    if device.status is not pending:
        return
    if status is S.CANCELLED:
        device.status = DeviceStatus.ACTIVE
    elif status is S.CLOSED and ticket.type is TicketType.REMOVAL:
        device.status = DeviceStatus.REMOVED
    elif status is S.CLOSED and ticket.type is TicketType.MOVE:
        target = (ticket.details or {}).get("targetSiteId")
        if target is not None:
            device.site_id = int(target)
        location = (ticket.details or {}).get("targetLocation")
        if location:
            device.location_description = location
        device.status = DeviceStatus.ACTIVE
    else:
        return
    device.version += 1


async def add_ticket_comment(
    context: Context,
    ticket_id: int,
    body: str,
    internal: bool,
    messages: list[TicketEventMessage],
) -> tuple[Ticket, TicketComment]:
    scope = await context.require_scope()
    session = context.session
    ticket = await visible_ticket(context, ticket_id)
    perms = ticket_permissions(scope, ticket)
    agent = works_tickets(perms)
    if not agent and customer_permission(ticket.type) not in perms:
        raise Forbidden(language=context.language, required=customer_permission(ticket.type).value)
    if internal and P.VIEW_INTERNAL_NOTES not in perms:
        raise Forbidden(language=context.language, required=P.VIEW_INTERNAL_NOTES.value)
    if ticket.status is S.CLOSED or ticket.status is S.CANCELLED:
        raise UserError("TICKET_CLOSED", ["input", "ticketId"])
    text = check_text(body, ["input", "body"], MAX_TEXT, required=True)
    now = clock.now()
    comment = await _add_comment(session, ticket, scope.user_id, text, internal=internal, at=now)
    if agent and not internal and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    event = _event(ticket, scope.user_id, "COMMENTED", comment=comment, at=now)
    await _record_event(session, messages, ticket, event)
    return ticket, comment


async def _add_comment(
    session: AsyncSession,
    ticket: Ticket,
    author_user_id: int | None,
    body: str,
    *,
    internal: bool,
    at: datetime,
) -> TicketComment:
    """A comment on the ticket (a comment of its own, or the note of a status change), flushed
    so its event can point to it."""
    comment = TicketComment(
        ticket_id=ticket.id,
        author_user_id=author_user_id,
        body=body,
        internal=internal,
        created_at=at,
    )
    session.add(comment)
    await session.flush()
    return comment


async def _record_event(
    session: AsyncSession,
    messages: list[TicketEventMessage],
    ticket: Ticket,
    event: TicketEvent,
) -> None:
    """Stores the ticket's event and queues its announcement for after the commit."""
    session.add(event)
    await session.flush()
    messages.append(_message(ticket, event))


async def device_to_change(context: Context, raw_id: str) -> tuple[Device, Site]:
    """The device a move or removal request is about, with its site: visible to the viewer,
    who holds REQUEST_DEVICE_CHANGES on it."""
    language = context.language
    device_id = decode_id(raw_id, "Device", language=language)
    scope = await context.require_scope()
    device, site, _ = await _visible_device(context.session, scope, device_id, language)
    require_on_device(scope, device, P.REQUEST_DEVICE_CHANGES, language)
    return device, site


def check_wanted_date(site: Site, wanted: date) -> None:
    """A move or removal may not be wanted before today at the device's site."""
    if wanted < site_today(site):
        raise UserError("WANTED_DATE_IN_PAST", ["input", "wantedDate"])


async def visible_site(context: Context, site_id: int, account_id: int) -> Site | None:
    """A move target: a site of the device's own account."""
    return await context.session.scalar(
        select(Site).where(Site.id == site_id, Site.account_id == account_id)
    )


# --- reads ---------------------------------------------------------------------------------


@dataclass
class TicketListFilter:
    statuses: Sequence[TicketStatus] | None = None
    types: Sequence[TicketType] | None = None
    device_ids: Sequence[int] | None = None
    account_ids: Sequence[int] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    sla_state: SlaState | None = None
    search: str | None = None
    # Account.tickets: only this account's tree.
    within_account_id: int | None = None


async def ticket_connection(
    info: Info,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: TicketListFilter,
) -> Page:
    """Newest first; scoped in SQL like every list."""
    context = info.context
    scope = await context.require_scope()
    stmt = select(Ticket).where(scope.tickets_clause())
    if filter.statuses is not None:
        stmt = (
            stmt.where(Ticket.status.in_(filter.statuses))
            if filter.statuses
            else stmt.where(false())
        )
    if filter.types is not None:
        stmt = stmt.where(Ticket.type.in_(filter.types)) if filter.types else stmt.where(false())
    if filter.device_ids is not None:
        stmt = stmt.where(Ticket.device_id.in_(filter.device_ids))
    if filter.account_ids is not None:
        tree = account_tree(filter.account_ids, "filter_accounts")
        stmt = stmt.where(Ticket.account_id.in_(select(tree.c.id)))
    if filter.within_account_id is not None:
        tree = account_tree([filter.within_account_id], "within_account")
        stmt = stmt.where(Ticket.account_id.in_(select(tree.c.id)))
    if filter.created_after is not None:
        stmt = stmt.where(Ticket.created_at >= filter.created_after)
    if filter.created_before is not None:
        stmt = stmt.where(Ticket.created_at < filter.created_before)
    if filter.sla_state is not None:
        stmt = stmt.where(sla_clause(filter.sla_state, clock.now()))
    if filter.search:
        stmt = stmt.where(
            or_(
                contains(Ticket.number, filter.search),
                contains(Ticket.summary, filter.search),
                contains(Ticket.description, filter.search),
            )
        )
    sort = [SortField(Ticket.created_at, "datetime"), SortField(Ticket.id, "int")]
    return await paginate(
        context.session,
        stmt,
        sort,
        PageRequest(first, after, last, before),
        descending=True,
    )
