"""Tickets: fault reports, supplies requests, account questions, move and removal requests,
their comments and history, the business-hours response clock, and live updates."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated

import strawberry
from strawberry import relay

from auth.policy import Permission as P
from auth.requirements import requires
from calendars.business_hours import SlaState
from core import clock
from core.ids import decode_id, global_id
from models import Ticket as TicketRow
from models import TicketComment as TicketCommentRow
from models import TicketEvent as TicketEventRow
from models.enums import TicketStatus, TicketType
from resolvers import ticket_clock
from resolvers import tickets as logic
from resolvers.loaders.tickets import (
    CommentsByTicketIdLoader,
    EventsByTicketIdLoader,
    LatestTicketsByDeviceIdLoader,
    TicketByIdLoader,
)
from resolvers.ticket_list import TicketListFilter, ticket_connection
from schema.accounts import Account, Site
from schema.context import Info
from schema.devices import Device
from schema.enums import described_enum
from schema.node import LoadedNode
from schema.pagination import FILTER, After, Before, Connection, First, Last
from schema.permissions import shown_to

TicketTypeEnum = described_enum(
    TicketType,
    name="TicketType",
    description="What a ticket is about. MOVE and REMOVAL come from requestDeviceMove / "
    "requestDeviceRemoval; ACCOUNT_QUERY has no device.",
    values={
        TicketType.INCIDENT: "A fault on a device.",
        TicketType.SUPPLIES: "A request for consumables (toner, drums, ...) for a device.",
        TicketType.MOVE: "A request to move a device to another site or room "
        "(`requestDeviceMove`).",
        TicketType.REMOVAL: "A request to take away a device the customer no longer has "
        "(`requestDeviceRemoval`).",
        TicketType.ACCOUNT_QUERY: "A question about the account (contracts, invoices, ...); "
        "no device.",
    },
)
TicketStatusEnum = described_enum(
    TicketStatus,
    name="TicketStatus",
    description="Where a ticket stands: NEW -> ASSIGNED -> IN_PROGRESS -> ON_HOLD (waiting for "
    "the customer) -> RESOLVED -> CLOSED, or CANCELLED.",
    values={
        TicketStatus.NEW: "Logged; not yet taken by customer service.",
        TicketStatus.ASSIGNED: "Given to a customer-service agent or engineer.",
        TicketStatus.IN_PROGRESS: "Being worked on.",
        TicketStatus.ON_HOLD: "Waiting for the customer; the response clock stops meanwhile.",
        TicketStatus.RESOLVED: "The vendor considers it solved.",
        TicketStatus.CLOSED: "Finished.",
        TicketStatus.CANCELLED: "Withdrawn before it was resolved.",
    },
)
SlaStateEnum = described_enum(
    SlaState,
    name="SlaState",
    description="The response time in business hours: ON_TRACK, AT_RISK (less than a quarter "
    "of it left), BREACHED, or MET (answered in time).",
    values={
        SlaState.ON_TRACK: "Not answered yet, with more than a quarter of the response time left.",
        SlaState.AT_RISK: "Not answered yet, with less than a quarter of the response time left.",
        SlaState.BREACHED: "The response due time passed before the vendor answered.",
        SlaState.MET: "The vendor answered by the response due time.",
    },
)


class TicketEventKind(enum.StrEnum):
    """What a ticket event records (a GraphQL enum through `described_enum` below)."""

    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    COMMENTED = "COMMENTED"
    RESYNC = "RESYNC"


described_enum(
    TicketEventKind,
    name="TicketEventKind",
    description="What a ticket event records. RESYNC comes from `ticketUpdated` only: events "
    "may have been missed (live delivery between servers was interrupted, or has just been "
    "restored), so refetch the tickets shown; it carries no ticket.",
    values={
        TicketEventKind.CREATED: "A ticket was created.",
        TicketEventKind.STATUS_CHANGED: "A ticket's status changed.",
        TicketEventKind.COMMENTED: "A comment was added to a ticket.",
        TicketEventKind.RESYNC: "Events may have been missed: refetch the tickets shown "
        "(no ticket).",
    },
)


class SymptomCategory(enum.StrEnum):
    """What kind of fault an incident reports (a GraphQL enum through `described_enum`)."""

    PAPER_JAM = "PAPER_JAM"
    PRINT_QUALITY = "PRINT_QUALITY"
    ERROR_CODE = "ERROR_CODE"
    NOT_PRINTING = "NOT_PRINTING"
    SCANNING = "SCANNING"
    NETWORK = "NETWORK"
    NOISE = "NOISE"
    OTHER = "OTHER"


described_enum(
    SymptomCategory,
    name="SymptomCategory",
    description="What kind of fault an incident reports.",
    values={
        SymptomCategory.PAPER_JAM: "Paper jams or misfeeds.",
        SymptomCategory.PRINT_QUALITY: "Streaks, smudges, faded or wrong colours.",
        SymptomCategory.ERROR_CODE: "The device shows an error code (give it in the description).",
        SymptomCategory.NOT_PRINTING: "Jobs do not come out.",
        SymptomCategory.SCANNING: "Scanning or scan-to-e-mail / folder fails.",
        SymptomCategory.NETWORK: "The device cannot be reached on the network.",
        SymptomCategory.NOISE: "Unusual noise.",
        SymptomCategory.OTHER: "Anything else.",
    },
)


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
        return ticket_clock.ticket_sla(self.row)

    @strawberry.field(
        description="The calendar `responseDueAt` is counted on (null without a response clock)."
    )
    async def service_calendar(self, info: Info) -> ServiceCalendar | None:
        found = await ticket_clock.service_calendar(info.context.session, self.row)
        if found is None:
            return None
        return ServiceCalendar(
            time_zone=found.time_zone, country=found.country, site_id=found.site_id
        )

    @strawberry.field(description="The device, if the viewer may see it (null for questions).")
    async def device(
        self, info: Info
    ) -> Annotated[Device, strawberry.lazy("schema.devices")] | None:
        return await Device.load(info, self.row.device_id)

    @strawberry.field(description="The account, if the viewer may see it.")
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.accounts")] | None:
        return await Account.load(info, self.row.account_id)

    @strawberry.field(description="Target site of a move request.")
    async def target_site(
        self, info: Info
    ) -> Annotated[Site, strawberry.lazy("schema.accounts")] | None:
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


def list_filter(filter: TicketFilter | None, language: str) -> TicketListFilter:
    if filter is None:
        return TicketListFilter()
    return TicketListFilter(
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
    filter: TicketListFilter,
) -> TicketConnection:
    page = await ticket_connection(
        info.context, first=first, after=after, last=last, before=before, filter=filter
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
        **shown_to(
            requires(P.VIEW_TICKETS),
            "Tickets the viewer may see (tickets of its visible devices, and account "
            "questions for administrators; agents: all), newest first.",
        )
    )
    async def tickets(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[TicketFilter | None, FILTER] = None,
    ) -> TicketConnection:
        return await ticket_list(
            info, first, after, last, before, list_filter(filter, info.context.language)
        )


# --- mutations -----------------------------------------------------------------------------
