"""Tickets: creation (faults, supplies, account questions, move and removal requests), the
status lifecycle per side, comments and numbering (the response clock: `ticket_clock`; the
scoped list: `ticket_list`).

Every change writes a `TicketEvent` (the ticket's history), a mail to the ticket's contact
through the outbox, and - after the commit - a message to the event broker for live updates.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import i18n
from auth.policy import Permission, ticket_transitions, works_tickets
from calendars.business_hours import (
    FROZEN_STATE_KEY,
    ON_HOLD_SINCE_KEY,
    Calendar,
    business_time_between,
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
from resolvers.audit import audit
from resolvers.scoping import Scope
from resolvers.ticket_clock import (
    account_calendar,
    contract_coverage,
    site_today,
    start_clock,
    ticket_calendar,
    ticket_sla,
)
from webhooks.events import WebhookEvent, emit

if TYPE_CHECKING:
    from resolvers.context import Context

P = Permission
S = TicketStatus


OPEN = OPEN_TICKET_STATUSES

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
            contract_coverage(contract, site),
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
        await emit(
            session,
            WebhookEvent.DEVICE_STATUS_CHANGED,
            account_id=device.account_id,
            subject_id=device.id,
        )
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
    await emit(
        session,
        WebhookEvent.DEVICE_STATUS_CHANGED,
        account_id=device.account_id,
        subject_id=device.id,
    )


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
    """Stores the ticket's event, queues its announcement for after the commit and adds its
    webhook deliveries to the transaction."""
    session.add(event)
    await session.flush()
    messages.append(_message(ticket, event))
    await emit(
        session,
        WEBHOOK_EVENTS[event.kind],
        account_id=ticket.account_id,
        subject_id=ticket.id,
        internal=event.internal,
    )


# The webhook event of each kind of ticket event.
WEBHOOK_EVENTS = {
    "CREATED": WebhookEvent.TICKET_CREATED,
    "STATUS_CHANGED": WebhookEvent.TICKET_STATUS_CHANGED,
    "COMMENTED": WebhookEvent.TICKET_COMMENTED,
}


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
