"""Tickets: fault reports, supplies requests, account questions, move and removal requests,
their comments and history, the business-hours response clock, and live updates."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry
from sqlalchemy import select
from strawberry import relay

from auth.policy import Permission
from calendars.business_hours import SlaState
from core import clock
from core.errors import NotFound, Unauthenticated, UserError
from core.ids import decode_id, global_id
from models import Account as AccountRow
from models import Device as DeviceRow
from models import Site as SiteRow
from models import Ticket as TicketRow
from models import TicketComment as TicketCommentRow
from models import TicketEvent as TicketEventRow
from models import User
from models.enums import DeviceStatus, TicketStatus, TicketType
from pubsub.tickets import Resync, TicketEventMessage, broker_for, publish_all
from resolvers import tickets as logic
from resolvers.accounts import account_tree
from resolvers.loaders.tickets import (
    CommentsByTicketIdLoader,
    EventsByTicketIdLoader,
    LatestTicketsByDeviceIdLoader,
    TicketByIdLoader,
)
from resolvers.scoping import build_scope
from schema.context import Info
from schema.mutations import Payload, transactional
from schema.node import LoadedNode
from schema.pagination import Connection

if TYPE_CHECKING:
    from schema.accounts import Account, Site
    from schema.devices import Device

TicketTypeEnum = strawberry.enum(
    TicketType,
    name="TicketType",
    description="What a ticket is about. MOVE and REMOVAL come from requestDeviceMove / "
    "requestDeviceRemoval; ACCOUNT_QUERY has no device.",
)
TicketStatusEnum = strawberry.enum(
    TicketStatus,
    name="TicketStatus",
    description="Where a ticket stands: NEW -> ASSIGNED -> IN_PROGRESS -> ON_HOLD (waiting for "
    "the customer) -> RESOLVED -> CLOSED, or CANCELLED.",
)
SlaStateEnum = strawberry.enum(
    SlaState,
    name="SlaState",
    description="The response time in business hours: ON_TRACK, AT_RISK (less than a quarter "
    "of it left), BREACHED, or MET (answered in time).",
)


@strawberry.enum(
    description="What a ticket event records. RESYNC comes from `ticketUpdated` only: events "
    "may have been missed (live delivery between servers was interrupted, or has just been "
    "restored), so refetch the tickets shown; it carries no ticket."
)
class TicketEventKind(enum.StrEnum):
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    COMMENTED = "COMMENTED"
    RESYNC = "RESYNC"


@strawberry.enum(description="What kind of fault an incident reports.")
class SymptomCategory(enum.StrEnum):
    PAPER_JAM = "PAPER_JAM"
    PRINT_QUALITY = "PRINT_QUALITY"
    ERROR_CODE = "ERROR_CODE"
    NOT_PRINTING = "NOT_PRINTING"
    SCANNING = "SCANNING"
    NETWORK = "NETWORK"
    NOISE = "NOISE"
    OTHER = "OTHER"


@strawberry.type(description="Who to contact about a ticket.")
class TicketContact:
    name: str = strawberry.field(description="Contact name.")
    phone: str | None = strawberry.field(description="Phone number.")
    email: str = strawberry.field(description="E-mail address; ticket mails go there.")
    language: str = strawberry.field(description="Language of the ticket mails (en, fr, it).")


@strawberry.type(description="A comment on a ticket.")
class TicketComment:
    id: strawberry.ID = strawberry.field(description="Global ID of the comment.")
    body: str = strawberry.field(description="Text.")
    internal: bool = strawberry.field(
        description="Internal note, seen by the vendor's agents only (customers never get one)."
    )
    created_at: datetime = strawberry.field(description="When it was written.")
    author_name: str | None = strawberry.field(description="Who wrote it.")
    by_agent: bool = strawberry.field(description="Whether the vendor wrote it.")

    @classmethod
    def from_row(cls, row: TicketCommentRow, name: str | None, is_agent: bool) -> TicketComment:
        return cls(
            id=strawberry.ID(global_id("TicketComment", row.id)),
            body=row.body,
            internal=row.internal,
            created_at=row.created_at,
            author_name=name,
            by_agent=is_agent,
        )


@strawberry.type(description="One change of a ticket: who, when, from which status to which.")
class TicketEvent:
    id: strawberry.ID | None = strawberry.field(
        description="Global ID of the event (null on a RESYNC event)."
    )
    kind: TicketEventKind = strawberry.field(description="What happened.")
    from_status: TicketStatusEnum | None = strawberry.field(
        description="Status before a status change."
    )
    to_status: TicketStatusEnum | None = strawberry.field(
        description="Status after a status change or creation."
    )
    created_at: datetime = strawberry.field(description="When it happened.")
    actor_name: str | None = strawberry.field(description="Who did it.")
    by_agent: bool = strawberry.field(description="Whether the vendor did it.")
    internal: bool = strawberry.field(description="Visible to the vendor's agents only.")
    comment: TicketComment | None = strawberry.field(description="The comment it added, if any.")
    ticket_id: strawberry.ID | None = strawberry.field(
        description="Global ID of the ticket (null on a RESYNC event)."
    )
    ticket_number: str | None = strawberry.field(
        description="Number of the ticket (null on a RESYNC event)."
    )
    ticket_status: TicketStatusEnum | None = strawberry.field(
        description="The ticket's status when the event was delivered (null on a RESYNC event)."
    )
    ticket_version: int | None = strawberry.field(
        description="The ticket's version when the event was delivered (for updateTicketStatus; "
        "null on a RESYNC event)."
    )

    @classmethod
    def resync(cls) -> TicketEvent:
        """The signal to refetch: events may have been lost for this subscriber."""
        return cls(
            id=None,
            kind=TicketEventKind.RESYNC,
            from_status=None,
            to_status=None,
            created_at=clock.now(),
            actor_name=None,
            by_agent=False,
            internal=False,
            comment=None,
            ticket_id=None,
            ticket_number=None,
            ticket_status=None,
            ticket_version=None,
        )

    @classmethod
    def from_row(
        cls,
        row: TicketEventRow,
        ticket: TicketRow,
        name: str | None,
        is_agent: bool,
        comment: TicketCommentRow | None,
    ) -> TicketEvent:
        return cls(
            id=strawberry.ID(global_id("TicketEvent", row.id)),
            kind=TicketEventKind(row.kind),
            from_status=row.from_status,
            to_status=row.to_status,
            created_at=row.created_at,
            actor_name=name,
            by_agent=is_agent,
            internal=row.internal,
            comment=TicketComment.from_row(comment, name, is_agent)
            if comment is not None
            else None,
            ticket_id=strawberry.ID(global_id("Ticket", ticket.id)),
            ticket_number=ticket.number,
            ticket_status=ticket.status,
            ticket_version=ticket.version,
        )


@strawberry.type(
    description="The calendar a ticket's response clock runs on: business hours are local to "
    "its time zone and its country's public holidays stop the clock. A device ticket uses its "
    "device's site; an account question its account's main site (the account's lowest-id site, "
    "else its parent's main site; with no site at all, UTC and the account's country)."
)
class ServiceCalendar:
    time_zone: str = strawberry.field(description="IANA time zone, e.g. Europe/Paris.")
    country: str | None = strawberry.field(
        description="ISO 3166-1 alpha-2 country whose public holidays apply."
    )
    site_id: strawberry.Private[int | None]

    @strawberry.field(
        description="The site whose calendar it is (null without one, or if the viewer may not "
        "see it)."
    )
    async def site(self, info: Info) -> Annotated[Site, strawberry.lazy("schema.accounts")] | None:
        from schema.accounts import Site

        if self.site_id is None:
            return None
        return await Site.load(info, self.site_id)


@strawberry.type(description="A ticket: a fault, a supplies request, a question or a request.")
class Ticket(LoadedNode):
    id: relay.NodeID[int]
    number: str = strawberry.field(description="Human-readable number, e.g. T-2026-000123.")
    type: TicketTypeEnum = strawberry.field(description="What it is about.")
    status: TicketStatusEnum = strawberry.field(description="Where it stands.")
    summary: str = strawberry.field(description="One-line summary.")
    description: str = strawberry.field(description="Details given by the customer.")
    symptom_category: str | None = strawberry.field(description="Kind of fault (incidents).")
    contact: TicketContact = strawberry.field(description="Who to contact.")
    created_at: datetime = strawberry.field(description="When it was logged.")
    updated_at: datetime = strawberry.field(description="Last change.")
    response_due_at: datetime | None = strawberry.field(
        description="When the first response is due: the contract's response time counted in "
        "business hours (coverage hours in the time zone and minus the public holidays of "
        "`serviceCalendar`; ON_HOLD time excluded)."
    )
    first_responded_at: datetime | None = strawberry.field(
        description="When the vendor first answered."
    )
    resolved_at: datetime | None = strawberry.field(description="When it was resolved.")
    closed_at: datetime | None = strawberry.field(description="When it was closed or cancelled.")
    version: int = strawberry.field(
        description="Changes with every update; give it back to updateTicketStatus."
    )
    wanted_date: date | None = strawberry.field(
        description="Date wanted for a move or removal (site local)."
    )
    target_location: str | None = strawberry.field(description="Where a device should move to.")
    removal_reason: str | None = strawberry.field(description="Why a device should be removed.")
    row: strawberry.Private[TicketRow]

    by_id_loader = TicketByIdLoader
    requires_sign_in = True

    @classmethod
    def from_row(cls, row: TicketRow) -> Ticket:
        details = row.details or {}
        wanted = details.get("wantedDate")
        return cls(
            id=row.id,
            number=row.number,
            type=row.type,
            status=row.status,
            summary=row.summary,
            description=row.description,
            symptom_category=row.symptom_category,
            contact=TicketContact(
                name=row.contact_name,
                phone=row.contact_phone,
                email=row.contact_email,
                language=row.contact_language,
            ),
            created_at=row.created_at,
            updated_at=row.updated_at,
            response_due_at=row.response_due_at,
            first_responded_at=row.first_responded_at,
            resolved_at=row.resolved_at,
            closed_at=row.closed_at,
            version=row.version,
            wanted_date=date.fromisoformat(wanted) if wanted else None,
            target_location=details.get("targetLocation"),
            removal_reason=details.get("reason"),
            row=row,
        )

    @strawberry.field(description="Where the response clock stands (null without one).")
    def sla_state(self) -> SlaStateEnum | None:
        return logic.ticket_sla(self.row)

    @strawberry.field(
        description="The calendar `responseDueAt` is counted on (null without a response clock)."
    )
    async def service_calendar(self, info: Info) -> ServiceCalendar | None:
        found = await logic.service_calendar(info.context.session, self.row)
        if found is None:
            return None
        return ServiceCalendar(
            time_zone=found.time_zone, country=found.country, site_id=found.site_id
        )

    @strawberry.field(description="The device, if the viewer may see it (null for questions).")
    async def device(
        self, info: Info
    ) -> Annotated[Device, strawberry.lazy("schema.devices")] | None:
        from schema.devices import Device

        return await Device.load(info, self.row.device_id)

    @strawberry.field(description="The account, if the viewer may see it.")
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.accounts")] | None:
        from schema.accounts import Account

        return await Account.load(info, self.row.account_id)

    @strawberry.field(description="Target site of a move request.")
    async def target_site(
        self, info: Info
    ) -> Annotated[Site, strawberry.lazy("schema.accounts")] | None:
        from schema.accounts import Site

        target = (self.row.details or {}).get("targetSiteId")
        if target is None:
            return None
        return await Site.load(info, int(target))

    @strawberry.field(
        description="Comments, oldest first (internal notes only for the vendor's agents)."
    )
    async def comments(self, info: Info) -> list[TicketComment]:
        scope = await info.context.require_scope()
        key = (self.row.id, logic.sees_internal(scope, self.row))
        rows = await info.context.loaders[CommentsByTicketIdLoader].load(key)
        return [TicketComment.from_row(*r) for r in rows]

    @strawberry.field(
        description="Every change, oldest first: who, when, from which status to which "
        "(internal events only for the vendor's agents)."
    )
    async def history(self, info: Info) -> list[TicketEvent]:
        scope = await info.context.require_scope()
        key = (self.row.id, logic.sees_internal(scope, self.row))
        rows = await info.context.loaders[EventsByTicketIdLoader].load(key)
        return [TicketEvent.from_row(e, self.row, n, a, c) for e, n, a, c in rows]


@strawberry.type(description="A page of tickets.")
class TicketConnection(Connection[Ticket]):
    pass


@strawberry.input(description="Narrows the tickets list; all given conditions must hold.")
class TicketFilter:
    statuses: list[TicketStatusEnum] | None = strawberry.field(
        default=None, description="Statuses."
    )
    types: list[TicketTypeEnum] | None = strawberry.field(default=None, description="Types.")
    device_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Devices.")
    account_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Accounts (their sub-accounts included)."
    )
    created_after: datetime | None = strawberry.field(
        default=None, description="Logged at or after this instant."
    )
    created_before: datetime | None = strawberry.field(
        default=None, description="Logged before this instant."
    )
    sla_state: SlaStateEnum | None = strawberry.field(
        default=None, description="Where the response clock stands now."
    )
    search: str | None = strawberry.field(
        default=None, description="Part of the number, summary or description."
    )


def list_filter(filter: TicketFilter | None, language: str) -> logic.TicketListFilter:
    if filter is None:
        return logic.TicketListFilter()
    return logic.TicketListFilter(
        statuses=filter.statuses,
        types=filter.types,
        device_ids=None
        if filter.device_ids is None
        else [decode_id(i, "Device", language=language) for i in filter.device_ids],
        account_ids=None
        if filter.account_ids is None
        else [decode_id(i, "Account", language=language) for i in filter.account_ids],
        created_after=filter.created_after,
        created_before=filter.created_before,
        sla_state=filter.sla_state,
        search=filter.search,
    )


async def ticket_list(
    info: Info,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: logic.TicketListFilter,
) -> TicketConnection:
    page = await logic.ticket_connection(
        info, first=first, after=after, last=last, before=before, filter=filter
    )
    return TicketConnection.of(page, Ticket.from_row)


async def device_tickets(info: Info, device_id: int, first: int) -> list[Ticket]:
    limit = max(0, min(first, 100))
    rows = await info.context.loaders[LatestTicketsByDeviceIdLoader].load((device_id, limit))
    return [Ticket.from_row(r) for r in rows]


async def account_tickets(
    info: Info,
    account_id: int,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: TicketFilter | None,
) -> TicketConnection:
    narrowed = list_filter(filter, info.context.language)
    narrowed.within_account_id = account_id
    return await ticket_list(info, first, after, last, before, narrowed)


@strawberry.type
class TicketQuery:
    @strawberry.field(
        description="Tickets the viewer may see (tickets of its visible devices, and account "
        "questions for administrators; agents: all), newest first."
    )
    async def tickets(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: TicketFilter | None = None,
    ) -> TicketConnection:
        return await ticket_list(
            info, first, after, last, before, list_filter(filter, info.context.language)
        )


# --- mutations -----------------------------------------------------------------------------


@strawberry.input(description="Who to contact; missing parts come from the signed-in user.")
class TicketContactInput:
    name: str | None = strawberry.field(default=None, description="Contact name.")
    phone: str | None = strawberry.field(default=None, description="Phone number.")
    email: str | None = strawberry.field(default=None, description="E-mail address.")
    language: str | None = strawberry.field(
        default=None, description="Language of the ticket mails (en, fr, it)."
    )


def _contact(value: TicketContactInput | None) -> logic.Contact | None:
    if value is None:
        return None
    return logic.Contact(
        name=value.name, phone=value.phone, email=value.email, language=value.language
    )


@strawberry.input(description="A new ticket.")
class CreateTicketInput:
    type: TicketTypeEnum = strawberry.field(description="INCIDENT, SUPPLIES or ACCOUNT_QUERY.")
    summary: str = strawberry.field(description="One-line summary.")
    description: str = strawberry.field(default="", description="Details.")
    device_id: strawberry.ID | None = strawberry.field(
        default=None, description="The device (INCIDENT, SUPPLIES)."
    )
    account_id: strawberry.ID | None = strawberry.field(
        default=None, description="The account (ACCOUNT_QUERY)."
    )
    symptom_category: SymptomCategory | None = strawberry.field(
        default=None, description="Kind of fault (required for INCIDENT)."
    )
    contact: TicketContactInput | None = strawberry.field(
        default=None, description="Who to contact (default: the signed-in user)."
    )
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="Any unique string per intended ticket: a retry with the same key returns "
        "the ticket already created instead of a duplicate.",
    )


@strawberry.input(description="A request to move a device to another site or room.")
class RequestDeviceMoveInput:
    device_id: strawberry.ID = strawberry.field(description="The device.")
    target_site_id: strawberry.ID | None = strawberry.field(
        default=None, description="The site to move to (default: the same site)."
    )
    target_location: str = strawberry.field(description="Where in that site (floor, room).")
    wanted_date: date = strawberry.field(description="Wanted date (site local).")
    comment: str = strawberry.field(default="", description="Anything the vendor should know.")
    contact: TicketContactInput | None = strawberry.field(default=None, description="Contact.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retry key (see createTicket)."
    )


@strawberry.input(description="A request to remove a device the customer no longer needs.")
class RequestDeviceRemovalInput:
    device_id: strawberry.ID = strawberry.field(description="The device.")
    wanted_date: date = strawberry.field(description="Wanted date (site local).")
    reason: str = strawberry.field(description="Why it should go.")
    contact: TicketContactInput | None = strawberry.field(default=None, description="Contact.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retry key (see createTicket)."
    )


@strawberry.input(description="A status change.")
class UpdateTicketStatusInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket.")
    status: TicketStatusEnum = strawberry.field(description="The new status.")
    version: int = strawberry.field(description="The ticket version the change is based on.")
    comment: str | None = strawberry.field(
        default=None, description="A public comment explaining the change."
    )


@strawberry.input(description="A comment on a ticket.")
class AddTicketCommentInput:
    ticket_id: strawberry.ID = strawberry.field(description="The ticket.")
    body: str = strawberry.field(description="Text.")
    internal: bool = strawberry.field(
        default=False, description="Internal note (vendor agents only)."
    )


@strawberry.type(description="Result of createTicket.")
class CreateTicketPayload(Payload):
    ticket: Ticket | None = strawberry.field(default=None, description="The ticket.")


@strawberry.type(description="Result of a move or removal request.")
class DeviceRequestPayload(Payload):
    ticket: Ticket | None = strawberry.field(default=None, description="The request's ticket.")
    device: Annotated[Device, strawberry.lazy("schema.devices")] | None = strawberry.field(
        default=None, description="The device, now MOVE_PENDING or REMOVAL_PENDING."
    )


@strawberry.type(description="Result of updateTicketStatus.")
class UpdateTicketStatusPayload(Payload):
    ticket: Ticket | None = strawberry.field(default=None, description="The ticket.")


@strawberry.type(description="Result of addTicketComment.")
class AddTicketCommentPayload(Payload):
    ticket: Ticket | None = strawberry.field(default=None, description="The ticket.")
    comment: TicketComment | None = strawberry.field(default=None, description="The comment.")


def _device_payload(outcome: logic.Outcome) -> DeviceRequestPayload:
    from schema.devices import Device

    return DeviceRequestPayload(
        ticket=Ticket.from_row(outcome.ticket),
        device=Device.from_row(outcome.device) if outcome.device is not None else None,
    )


async def _device_to_change(
    info: Info, raw_id: strawberry.ID, language: str
) -> tuple[int, DeviceRow, SiteRow]:
    """The device a move or removal request is about, with its site: visible to the viewer,
    who holds REQUEST_DEVICE_CHANGES on it."""
    device_id = decode_id(raw_id, "Device", language=language)
    scope = await info.context.require_scope()
    device, site, _ = await logic._visible_device(info.context.session, scope, device_id, language)
    logic.require_on_device(scope, device, Permission.REQUEST_DEVICE_CHANGES, language)
    return device_id, device, site


async def _wanted_date_check(info: Info, device_id: int, wanted: date) -> None:
    """The wanted date may not be before today at the device's site."""
    site = await info.context.session.scalar(
        select(SiteRow)
        .join(DeviceRow, DeviceRow.site_id == SiteRow.id)
        .where(DeviceRow.id == device_id)
    )
    if site is not None and wanted < logic.site_today(site):
        raise UserError("WANTED_DATE_IN_PAST", ["input", "wantedDate"])


PayloadT = TypeVar("PayloadT")


async def run_ticket_mutation(
    info: Info,
    payload: type[PayloadT],
    work: Callable[[list[TicketEventMessage]], Awaitable[PayloadT]],
) -> PayloadT:
    """`transactional` (a writer from its start: concurrent ticket writes queue on SQLite), then
    announces the events of a committed change to live subscribers."""
    messages: list[TicketEventMessage] = []

    async def work_with_messages() -> PayloadT:
        return await work(messages)

    result = await transactional(info, payload, work_with_messages)
    if not getattr(result, "user_errors", None):
        await publish_all(info.context.services, messages)
    return result


@strawberry.type
class TicketMutation:
    @strawberry.mutation(
        description="Logs a ticket. Service work needs an active support contract on the device "
        "(else CONTRACT_INACTIVE). Requires: CREATE_TICKETS on the device, or "
        "ASK_ACCOUNT_QUESTIONS on the account for ACCOUNT_QUERY."
    )
    async def create_ticket(self, info: Info, input: CreateTicketInput) -> CreateTicketPayload:
        language = info.context.language

        async def work(messages: list[TicketEventMessage]) -> CreateTicketPayload:
            if input.type in (TicketType.MOVE, TicketType.REMOVAL):
                raise UserError("TICKET_TYPE_NOT_ALLOWED", ["input", "type"])
            if input.type is TicketType.INCIDENT and input.symptom_category is None:
                raise UserError("TICKET_FIELD_REQUIRED", ["input", "symptomCategory"])
            spec = logic.TicketSpec(
                type=input.type,
                summary=input.summary,
                description=input.description,
                device_id=None
                if input.device_id is None
                else decode_id(input.device_id, "Device", language=language),
                account_id=None
                if input.account_id is None
                else decode_id(input.account_id, "Account", language=language),
                symptom_category=input.symptom_category.value
                if input.symptom_category is not None
                else None,
                contact=_contact(input.contact),
                idempotency_key=input.idempotency_key,
            )
            outcome = await logic.create_ticket(info.context, spec, messages)
            return CreateTicketPayload(ticket=Ticket.from_row(outcome.ticket))

        return await run_ticket_mutation(info, CreateTicketPayload, work)

    @strawberry.mutation(
        description="Asks for a device to be moved (another site of its account, or another "
        "room); the device becomes MOVE_PENDING. Requires: REQUEST_DEVICE_CHANGES on the device."
    )
    async def request_device_move(
        self, info: Info, input: RequestDeviceMoveInput
    ) -> DeviceRequestPayload:
        language = info.context.language

        async def work(messages: list[TicketEventMessage]) -> DeviceRequestPayload:
            device_id, device, site = await _device_to_change(info, input.device_id, language)
            target_site = site
            if input.target_site_id is not None:
                target_id = decode_id(input.target_site_id, "Site", language=language)
                found = await logic.visible_site(info.context, target_id, device.account_id)
                if found is None:
                    raise UserError("TARGET_SITE_NOT_FOUND", ["input", "targetSiteId"])
                target_site = found
            location = logic._check_text(
                input.target_location, ["input", "targetLocation"], 200, required=True
            )
            if target_site.id == site.id and location == (device.location_description or ""):
                raise UserError("DEVICE_ALREADY_THERE", ["input", "targetLocation"])
            await _wanted_date_check(info, device_id, input.wanted_date)
            spec = logic.TicketSpec(
                type=TicketType.MOVE,
                summary=f"Move {device.serial_number} to {target_site.name}, {location}"[:200],
                description=input.comment,
                device_id=device_id,
                contact=_contact(input.contact),
                idempotency_key=input.idempotency_key,
                details={
                    "targetSiteId": target_site.id,
                    "targetLocation": location,
                    "wantedDate": input.wanted_date.isoformat(),
                },
                device_status=DeviceStatus.MOVE_PENDING,
            )
            return _device_payload(await logic.create_ticket(info.context, spec, messages))

        return await run_ticket_mutation(info, DeviceRequestPayload, work)

    @strawberry.mutation(
        description="Asks for a device to be removed (it is never deleted); the device becomes "
        "REMOVAL_PENDING. Requires: REQUEST_DEVICE_CHANGES on the device."
    )
    async def request_device_removal(
        self, info: Info, input: RequestDeviceRemovalInput
    ) -> DeviceRequestPayload:
        language = info.context.language

        async def work(messages: list[TicketEventMessage]) -> DeviceRequestPayload:
            device_id, device, _ = await _device_to_change(info, input.device_id, language)
            reason = logic._check_text(
                input.reason, ["input", "reason"], logic.MAX_REASON, required=True
            )
            await _wanted_date_check(info, device_id, input.wanted_date)
            spec = logic.TicketSpec(
                type=TicketType.REMOVAL,
                summary=f"Remove {device.serial_number}",
                description=reason,
                device_id=device_id,
                contact=_contact(input.contact),
                idempotency_key=input.idempotency_key,
                details={"reason": reason, "wantedDate": input.wanted_date.isoformat()},
                device_status=DeviceStatus.REMOVAL_PENDING,
            )
            return _device_payload(await logic.create_ticket(info.context, spec, messages))

        return await run_ticket_mutation(info, DeviceRequestPayload, work)

    @strawberry.mutation(
        description="Moves a ticket along its lifecycle. Agents (WORK_TICKETS) work it; "
        "customers cancel their own open tickets and confirm (CLOSED) or reopen (IN_PROGRESS) "
        "a RESOLVED one. A stale `version` is refused with STALE_VERSION."
    )
    async def update_ticket_status(
        self, info: Info, input: UpdateTicketStatusInput
    ) -> UpdateTicketStatusPayload:
        language = info.context.language

        async def work(messages: list[TicketEventMessage]) -> UpdateTicketStatusPayload:
            ticket = await logic.update_ticket_status(
                info.context,
                decode_id(input.ticket_id, "Ticket", language=language),
                input.status,
                input.version,
                input.comment,
                messages,
            )
            return UpdateTicketStatusPayload(ticket=Ticket.from_row(ticket))

        return await run_ticket_mutation(info, UpdateTicketStatusPayload, work)

    @strawberry.mutation(
        description="Comments on a ticket. Internal notes require VIEW_INTERNAL_NOTES (AGENT)."
    )
    async def add_ticket_comment(
        self, info: Info, input: AddTicketCommentInput
    ) -> AddTicketCommentPayload:
        language = info.context.language

        async def work(messages: list[TicketEventMessage]) -> AddTicketCommentPayload:
            ticket, comment = await logic.add_ticket_comment(
                info.context,
                decode_id(input.ticket_id, "Ticket", language=language),
                input.body,
                input.internal,
                messages,
            )
            scope = await info.context.require_scope()
            author = scope.user
            return AddTicketCommentPayload(
                ticket=Ticket.from_row(ticket),
                comment=TicketComment.from_row(
                    comment, author.name if author else None, bool(author and author.is_agent)
                ),
            )

        return await run_ticket_mutation(info, AddTicketCommentPayload, work)


# --- live updates --------------------------------------------------------------------------


async def _visible_event(info: Info, message: TicketEventMessage) -> TicketEvent | None:
    """Re-reads the event with a fresh short-lived session and the viewer's current scope."""
    context = info.context
    async with context.services.sessionmaker() as session:
        scope = await build_scope(context.principal, session)
        if not scope.is_authenticated:
            raise Unauthenticated(language=context.language)
        row = (
            await session.execute(
                select(TicketEventRow, TicketRow, User.name, User.is_agent, TicketCommentRow)
                .join(TicketRow, TicketRow.id == TicketEventRow.ticket_id)
                .outerjoin(User, User.id == TicketEventRow.actor_user_id)
                .outerjoin(TicketCommentRow, TicketCommentRow.id == TicketEventRow.comment_id)
                .where(TicketEventRow.id == message.event_id, scope.tickets_clause())
            )
        ).one_or_none()
        if row is None:
            return None
        event, ticket, name, is_agent, comment = row
        if event.internal and not logic.sees_internal(scope, ticket):
            return None
        return TicketEvent.from_row(event, ticket, name, bool(is_agent), comment)


async def _subscription_filter(
    info: Info, ticket_id: strawberry.ID | None, account_id: strawberry.ID | None
) -> tuple[int | None, set[int] | None]:
    """Checks the viewer may see what it subscribes to; returns the ticket and account ids."""
    context = info.context
    language = context.language
    wanted_ticket = None if ticket_id is None else decode_id(ticket_id, "Ticket", language=language)
    wanted_account = (
        None if account_id is None else decode_id(account_id, "Account", language=language)
    )
    async with context.services.sessionmaker() as session:
        scope = await build_scope(context.principal, session)
        if not scope.is_authenticated:
            raise Unauthenticated(language=language)
        if wanted_ticket is not None:
            found = await session.scalar(
                select(TicketRow.id).where(TicketRow.id == wanted_ticket, scope.tickets_clause())
            )
            if found is None:
                raise NotFound(language=language)
        accounts: set[int] | None = None
        if wanted_account is not None:
            visible = await session.scalar(
                select(AccountRow.id).where(
                    AccountRow.id == wanted_account, scope.accounts_clause()
                )
            )
            if visible is None:
                raise NotFound(language=language)
            tree = account_tree([wanted_account], "subscribed_accounts")
            accounts = set((await session.scalars(select(tree.c.id))).all())
    return wanted_ticket, accounts


@strawberry.type
class TicketSubscription:
    @strawberry.subscription(
        description="Each change of the tickets the viewer may see (one ticket, or an account "
        "and its sub-accounts, or all), as it happens on any server; internal events reach "
        "agents only. A RESYNC event means events may have been missed (sent when live "
        "delivery between servers is interrupted and again when it is restored): refetch. "
        "Ends when the access token expires."
    )
    async def ticket_updated(
        self,
        info: Info,
        ticket_id: strawberry.ID | None = None,
        account_id: strawberry.ID | None = None,
    ) -> AsyncGenerator[TicketEvent, None]:
        context = info.context
        principal = context.principal
        if principal.is_anonymous:
            raise Unauthenticated(language=context.language)
        wanted_ticket, accounts = await _subscription_filter(info, ticket_id, account_id)
        expires_at = principal.token_expires_at
        async with broker_for(context.services).subscribe() as queue:
            while True:
                timeout = None if expires_at is None else expires_at - clock.timestamp()
                if timeout is not None and timeout <= 0:
                    raise Unauthenticated(
                        message_code="ACCESS_TOKEN_EXPIRED", language=context.language
                    )
                try:
                    message = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    continue  # the loop ends the subscription on expiry
                if isinstance(message, Resync):
                    yield TicketEvent.resync()
                    continue
                if wanted_ticket is not None and message.ticket_id != wanted_ticket:
                    continue
                if accounts is not None and message.account_id not in accounts:
                    continue
                event = await _visible_event(info, message)
                if expires_at is not None and clock.timestamp() >= expires_at:
                    raise Unauthenticated(
                        message_code="ACCESS_TOKEN_EXPIRED", language=context.language
                    )
                if event is not None:
                    yield event
