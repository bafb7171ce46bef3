"""Ticket mutations: creating tickets (faults, supplies, account questions), device move and
removal requests, status changes and comments. Each runs in one transaction and announces its
events to live subscribers once committed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, TypeVar

import strawberry

from auth.policy import Permission as P
from auth.requirements import requires
from core.errors import UserError
from core.ids import decode_id
from models.enums import DeviceStatus, TicketType
from pubsub.tickets import TicketEventMessage, publish_all
from resolvers import tickets as logic
from schema.context import Info
from schema.devices import Device
from schema.mutations import Payload, transactional
from schema.permissions import mutation, shown_to
from schema.tickets import (
    SymptomCategory,
    Ticket,
    TicketComment,
    TicketStatusEnum,
    TicketTypeEnum,
)


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
        default=False, **shown_to(P.VIEW_INTERNAL_NOTES, "An internal note, hidden from customers.")
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
    return DeviceRequestPayload(
        ticket=Ticket.from_row(outcome.ticket),
        device=Device.from_row(outcome.device) if outcome.device is not None else None,
    )


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
    @mutation(
        requires(P.CREATE_TICKETS, P.ASK_ACCOUNT_QUESTIONS),
        description="Logs a ticket. Service work needs an active support contract on the device "
        "(else CONTRACT_INACTIVE) and CREATE_TICKETS on it; an ACCOUNT_QUERY needs "
        "ASK_ACCOUNT_QUESTIONS on the account.",
    )
    async def create_ticket(
        self,
        info: Info,
        input: Annotated[
            CreateTicketInput,
            strawberry.argument(
                description="The ticket's type, summary, device (or account, for ACCOUNT_QUERY) and contact."
            ),
        ],
    ) -> CreateTicketPayload:
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

    @mutation(
        requires(P.REQUEST_DEVICE_CHANGES),
        description="Asks for a device to be moved (another site of its account, or another "
        "room); the device becomes MOVE_PENDING.",
    )
    async def request_device_move(
        self,
        info: Info,
        input: Annotated[
            RequestDeviceMoveInput,
            strawberry.argument(
                description="The device, where it goes (another site or room) and when."
            ),
        ],
    ) -> DeviceRequestPayload:
        language = info.context.language

        async def work(messages: list[TicketEventMessage]) -> DeviceRequestPayload:
            device, site = await logic.device_to_change(info.context, input.device_id)
            target_site = site
            if input.target_site_id is not None:
                target_id = decode_id(input.target_site_id, "Site", language=language)
                found = await logic.visible_site(info.context, target_id, device.account_id)
                if found is None:
                    raise UserError("TARGET_SITE_NOT_FOUND", ["input", "targetSiteId"])
                target_site = found
            location = logic.check_text(
                input.target_location, ["input", "targetLocation"], 200, required=True
            )
            if target_site.id == site.id and location == (device.location_description or ""):
                raise UserError("DEVICE_ALREADY_THERE", ["input", "targetLocation"])
            logic.check_wanted_date(site, input.wanted_date)
            spec = logic.TicketSpec(
                type=TicketType.MOVE,
                summary=f"Move {device.serial_number} to {target_site.name}, {location}"[:200],
                description=input.comment,
                device_id=device.id,
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

    @mutation(
        requires(P.REQUEST_DEVICE_CHANGES),
        description="Asks for a device to be removed (it is never deleted); the device becomes "
        "REMOVAL_PENDING.",
    )
    async def request_device_removal(
        self,
        info: Info,
        input: Annotated[
            RequestDeviceRemovalInput,
            strawberry.argument(
                description="The device the customer no longer has, the wanted date and the reason."
            ),
        ],
    ) -> DeviceRequestPayload:
        async def work(messages: list[TicketEventMessage]) -> DeviceRequestPayload:
            device, site = await logic.device_to_change(info.context, input.device_id)
            reason = logic.check_text(
                input.reason, ["input", "reason"], logic.MAX_REASON, required=True
            )
            logic.check_wanted_date(site, input.wanted_date)
            spec = logic.TicketSpec(
                type=TicketType.REMOVAL,
                summary=f"Remove {device.serial_number}",
                description=reason,
                device_id=device.id,
                contact=_contact(input.contact),
                idempotency_key=input.idempotency_key,
                details={"reason": reason, "wantedDate": input.wanted_date.isoformat()},
                device_status=DeviceStatus.REMOVAL_PENDING,
            )
            return _device_payload(await logic.create_ticket(info.context, spec, messages))

        return await run_ticket_mutation(info, DeviceRequestPayload, work)

    @mutation(
        requires(
            P.WORK_TICKETS, P.CREATE_TICKETS, P.ASK_ACCOUNT_QUESTIONS, P.REQUEST_DEVICE_CHANGES
        ),
        description="Moves a ticket along its lifecycle. Agents (WORK_TICKETS) work it; "
        "customers cancel their own open tickets and confirm (CLOSED) or reopen (IN_PROGRESS) "
        "a RESOLVED one. A stale `version` is refused with STALE_VERSION.",
    )
    async def update_ticket_status(
        self,
        info: Info,
        input: Annotated[
            UpdateTicketStatusInput,
            strawberry.argument(description="The ticket, the version read and its new status."),
        ],
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

    @mutation(
        requires(
            P.WORK_TICKETS, P.CREATE_TICKETS, P.ASK_ACCOUNT_QUESTIONS, P.REQUEST_DEVICE_CHANGES
        ),
        description="Comments on a ticket. Internal notes need VIEW_INTERNAL_NOTES.",
    )
    async def add_ticket_comment(
        self,
        info: Info,
        input: Annotated[
            AddTicketCommentInput,
            strawberry.argument(
                description="The ticket and the comment's text (for agents, possibly an internal note)."
            ),
        ],
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
