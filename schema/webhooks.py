"""Webhooks: signed HTTP callbacks whose payload is a GraphQL query the receiver chose, run as
the webhook's owner when the event is delivered.

The payload query is a `query` operation over the same schema as any request, with at most two
variables the sender fills in: `$id: ID!` (the global ID of the event's object: a Ticket, a
Device, a ReplenishmentOrder) and `$event: String!` (the event's name). It is checked against
the schema when the webhook is saved; at delivery it runs with the owner's scope and field
permissions of that moment (internal notes only for vendor agents, an object the owner no longer
sees is not delivered)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError, OperationDefinitionNode, parse, print_ast
from graphql import OperationType as GraphQLOperationType
from strawberry import relay

from auth.policy import Permission as P
from auth.requirements import requires
from core.errors import UserError
from core.ids import global_id
from models import DeliveryStatus
from models import Webhook as WebhookRow
from models import WebhookDelivery as WebhookDeliveryRow
from resolvers.loaders.webhooks import WebhookByIdLoader, WebhookDeliveryByIdLoader
from resolvers.webhooks import (
    MAX_QUERY_LENGTH,
    create_webhook,
    delete_webhook,
    delivery_connection,
    redeliver,
    rotate_webhook_secret,
    update_webhook,
    webhook_connection,
)
from schema.accounts import Account
from schema.audiences import callers_schema
from schema.context import Info
from schema.enums import described_enum
from schema.mutations import Payload, transactional
from schema.node import LoadedNode
from schema.pagination import After, Before, Connection, First, Last
from schema.permissions import mutation, shown_to
from schema.stored_queries import check_stored_query
from webhooks.events import WebhookEvent

WebhookEventEnum = described_enum(
    WebhookEvent,
    name="WebhookEvent",
    description="Something that happened, announced to the webhooks that subscribe to it (the "
    "delivered body's `type` is the lower-case dotted name, e.g. `ticket.created`).",
    values={
        WebhookEvent.TICKET_CREATED: "A ticket was raised (`$id`: the Ticket).",
        WebhookEvent.TICKET_STATUS_CHANGED: "A ticket's status changed (`$id`: the Ticket).",
        WebhookEvent.TICKET_COMMENTED: "A comment was added to a ticket (`$id`: the Ticket); "
        "internal notes reach only the vendor's every-account webhooks owned by an agent.",
        WebhookEvent.READING_REFUSED: "Meter readings of a device were refused (`$id`: the "
        "Device).",
        WebhookEvent.REPLENISHMENT_ORDER_CREATED: "A low toner level ordered a replacement "
        "(`$id`: the ReplenishmentOrder).",
        WebhookEvent.REPLENISHMENT_ORDER_SHIPPED: "A replenishment order was shipped (`$id`: "
        "the ReplenishmentOrder).",
        WebhookEvent.REPLENISHMENT_ORDER_DELIVERED: "A replenishment order was delivered "
        "(`$id`: the ReplenishmentOrder).",
        WebhookEvent.DEVICE_STATUS_CHANGED: "A device's status changed (`$id`: the Device).",
        WebhookEvent.TONER_FORECAST_REORDER: "A device's toner forecast crossed the reorder "
        "horizon (`$id`: the Device).",
        WebhookEvent.BULK_EXPORT_FINISHED: "One of the owner's bulk exports finished (`$id`: "
        "the BulkExport).",
    },
)

DeliveryStatusEnum = described_enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="Where a delivery stands.",
    values={
        DeliveryStatus.PENDING: "Waiting for its first attempt or its next retry.",
        DeliveryStatus.SUCCEEDED: "The receiver answered with a 2xx status.",
        DeliveryStatus.FAILED: "Given up (`lastError` says why): retries exhausted after 72 "
        "hours, the webhook disabled, or its owner removed or no longer allowed.",
        DeliveryStatus.SKIPPED: "Not sent: the owner may not see the event's object (any more).",
    },
)

ALLOWED_VARIABLES = {"id": {"ID!", "ID"}, "event": {"String!", "String"}}


async def check_payload_query(info: Info, text: str) -> str:
    """The query as stored, or a UserError: VALUE_REQUIRED, VALUE_TOO_LONG,
    WEBHOOK_QUERY_INVALID (syntax, schema, document limits), WEBHOOK_QUERY_NOT_A_QUERY (not
    exactly one query operation), WEBHOOK_QUERY_VARIABLES (a variable other than `$id: ID` /
    `$event: String`), WEBHOOK_QUERY_TOO_COSTLY (above MAX_QUERY_COST)."""
    query = (text or "").strip()
    if not query:
        raise UserError("VALUE_REQUIRED", "query")
    if len(query) > MAX_QUERY_LENGTH:
        raise UserError("VALUE_TOO_LONG", "query", max=MAX_QUERY_LENGTH)
    try:
        document = parse(query, max_tokens=info.context.settings.max_tokens)
    except GraphQLError as error:
        raise UserError("WEBHOOK_QUERY_INVALID", "query", detail=error.message[:200]) from None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation != GraphQLOperationType.QUERY:
        raise UserError("WEBHOOK_QUERY_NOT_A_QUERY", "query")
    for definition in operations[0].variable_definitions or ():
        name = definition.variable.name.value
        if print_ast(definition.type) not in ALLOWED_VARIABLES.get(name, set()):
            raise UserError("WEBHOOK_QUERY_VARIABLES", "query", name=name)
    check_stored_query(
        (await callers_schema(info))._schema,
        document,
        info.context.settings,
        {"id": global_id("Ticket", 1), "event": "ticket.created"},
        "WEBHOOK",
    )
    return query


@strawberry.type(description="One attempt (and its retries) to deliver one event to a webhook.")
class WebhookDelivery(LoadedNode):
    id: relay.NodeID[int]
    event: WebhookEventEnum = strawberry.field(description="What happened.")
    subject_id: strawberry.ID = strawberry.field(
        description="Global ID of the event's object (the payload query's `$id`)."
    )
    status: DeliveryStatusEnum = strawberry.field(description="Where the delivery stands.")
    attempts: int = strawberry.field(description="Requests made so far (or being made).")
    response_status: int | None = strawberry.field(
        description="HTTP status of the last response, if any."
    )
    response_excerpt: str | None = strawberry.field(
        description="The first kilobyte of the last response body (nothing more is kept)."
    )
    duration_ms: int | None = strawberry.field(
        description="How long the last request took, in milliseconds."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed or why the delivery ended without one (a "
        "code: HTTP_500, TIMEOUT, CONNECTION_FAILED, RETRIES_EXHAUSTED, WEBHOOK_DISABLED, "
        "WEBHOOK_OWNER_INACTIVE, WEBHOOK_OWNER_NOT_PERMITTED, NOT_VISIBLE, WEBHOOK_URL_...)."
    )
    created_at: datetime = strawberry.field(description="When the event happened.")
    last_attempt_at: datetime | None = strawberry.field(description="When it was last tried.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When it will be tried next (pending deliveries only)."
    )
    finished_at: datetime | None = strawberry.field(
        description="When it succeeded, failed for good or was skipped."
    )
    row: strawberry.Private[WebhookDeliveryRow]

    by_id_loader = WebhookDeliveryByIdLoader

    @classmethod
    def from_row(cls, row: WebhookDeliveryRow) -> WebhookDelivery:
        pending = row.status is DeliveryStatus.PENDING
        return cls(
            id=row.id,
            event=WebhookEvent(row.event),
            subject_id=strawberry.ID(global_id(row.subject_type, row.subject_id)),
            status=row.status,
            attempts=row.attempts,
            response_status=row.response_status,
            response_excerpt=row.response_excerpt,
            duration_ms=row.duration_ms,
            last_error=row.last_error,
            created_at=row.created_at,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.available_at if pending else None,
            finished_at=row.finished_at,
            row=row,
        )


@strawberry.type(description="A page of a webhook's deliveries, newest first.")
class WebhookDeliveryConnection(Connection[WebhookDelivery]):
    pass


@strawberry.type(
    description="A receiver's URL, the events it wants and the query its payload is; requests "
    "are signed per the Standard Webhooks specification with the webhook's secret."
)
class Webhook(LoadedNode):
    id: relay.NodeID[int]
    url: str = strawberry.field(description="Where events are POSTed.")
    events: list[WebhookEventEnum] = strawberry.field(description="The events it receives.")
    query: str = strawberry.field(
        description="The GraphQL query whose result is the payload (run as the owner)."
    )
    description: str = strawberry.field(description="What it is for (free text).")
    active: bool = strawberry.field(
        description="False once disabled (by a person, or after repeated failures)."
    )
    disabled_reason: str | None = strawberry.field(
        description="TOO_MANY_FAILURES or DISABLED_BY_USER while inactive."
    )
    consecutive_failures: int = strawberry.field(
        description="Failed attempts since the last success (it is disabled at the limit)."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until when the secret replaced by the last rotation also signs."
    )
    created_at: datetime = strawberry.field(description="When it was created.")
    updated_at: datetime = strawberry.field(description="When it was last changed.")
    row: strawberry.Private[WebhookRow]

    by_id_loader = WebhookByIdLoader

    @classmethod
    def from_row(cls, row: WebhookRow) -> Webhook:
        return cls(
            id=row.id,
            url=row.url,
            events=[WebhookEvent(e) for e in row.event_names()],
            query=row.query,
            description=row.description,
            active=row.is_active,
            disabled_reason=row.disabled_reason,
            consecutive_failures=row.consecutive_failures,
            previous_secret_expires_at=row.previous_secret_expires_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="The account whose events (and its sub-accounts') it receives; null: every "
        "account (vendor agents' webhooks)."
    )
    async def account(self, info: Info) -> Account | None:
        return await Account.load(info, self.row.account_id)

    @strawberry.field(
        description="Whether it has an owner: whoever created it or last changed its URL or "
        "query. The payload "
        "is computed with the owner's permissions; a removed or deactivated owner's webhook "
        "stops (its deliveries fail with WEBHOOK_OWNER_INACTIVE)."
    )
    def has_owner(self) -> bool:
        return self.row.owner_user_id is not None

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> WebhookDeliveryConnection:
        page = await delivery_connection(
            info.context, self.row.id, first=first, after=after, last=last, before=before
        )
        return WebhookDeliveryConnection.of(page, WebhookDelivery.from_row)


@strawberry.type(description="A page of webhooks.")
class WebhookConnection(Connection[Webhook]):
    pass


@strawberry.input(description="A new webhook.")
class CreateWebhookInput:
    account_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The account whose events (and its sub-accounts') it receives; required "
        "for customers, left out by a vendor agent for every account.",
    )
    url: str = strawberry.field(
        description="The receiver: HTTPS in production; loopback and private addresses only "
        "where the deployment allows them."
    )
    events: list[WebhookEventEnum] = strawberry.field(description="The events it receives.")
    query: str = strawberry.field(
        description="A GraphQL `query` operation whose result is the payload; its only "
        "variables may be `$id: ID!` (the event's object) and `$event: String!`. Example: "
        "`query($id: ID!) { node(id: $id) { ... on Ticket { number status } } }`."
    )
    description: str | None = strawberry.field(
        default=None, description="What it is for (at most 500 characters)."
    )


@strawberry.input(description="Changes to a webhook; fields left out stay as they are.")
class UpdateWebhookInput:
    id: strawberry.ID = strawberry.field(description="The webhook.")
    url: str | None = strawberry.field(default=strawberry.UNSET, description="New receiver.")
    events: list[WebhookEventEnum] | None = strawberry.field(
        default=strawberry.UNSET, description="New events."
    )
    query: str | None = strawberry.field(
        default=strawberry.UNSET, description="New payload query (checked as at creation)."
    )
    description: str | None = strawberry.field(
        default=strawberry.UNSET, description="New description."
    )
    active: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="False pauses it; true re-activates it (and clears the failure count).",
    )


@strawberry.input(description="Names one webhook.")
class WebhookIdInput:
    id: strawberry.ID = strawberry.field(description="The webhook.")


@strawberry.input(description="Names one delivery.")
class WebhookDeliveryIdInput:
    id: strawberry.ID = strawberry.field(description="The delivery to send again.")


@strawberry.type(description="Result of `createWebhook`.")
class CreateWebhookPayload(Payload):
    webhook: Webhook | None = strawberry.field(default=None, description="The webhook as stored.")
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (`whsec_<base64>`): shown this once, never again.",
    )


@strawberry.type(description="Result of `updateWebhook`.")
class UpdateWebhookPayload(Payload):
    webhook: Webhook | None = strawberry.field(default=None, description="The webhook as stored.")


@strawberry.type(description="Result of `deleteWebhook`.")
class DeleteWebhookPayload(Payload):
    deleted_webhook_id: strawberry.ID | None = strawberry.field(
        default=None, description="The webhook removed (with its deliveries)."
    )


@strawberry.type(description="Result of `rotateWebhookSecret`.")
class RotateWebhookSecretPayload(Payload):
    webhook: Webhook | None = strawberry.field(default=None, description="The webhook.")
    secret: str | None = strawberry.field(
        default=None,
        description="The new secret, shown this once; the previous one also signs until "
        "`webhook.previousSecretExpiresAt`.",
    )


@strawberry.type(description="Result of `redeliverWebhookDelivery`.")
class RedeliverWebhookDeliveryPayload(Payload):
    delivery: WebhookDelivery | None = strawberry.field(
        default=None, description="The new delivery (pending; its payload computed when sent)."
    )


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        **shown_to(
            P.MANAGE_WEBHOOKS,
            "Webhooks the viewer manages (administrators: their accounts'; agents: all), "
            "oldest first.",
        )
    )
    async def webhooks(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> WebhookConnection:
        page = await webhook_connection(
            info.context, first=first, after=after, last=last, before=before
        )
        return WebhookConnection.of(page, Webhook.from_row)


def _input(description: str) -> Any:
    return strawberry.argument(description=description)


@strawberry.type
class WebhookMutation:
    @mutation(
        requires(P.MANAGE_WEBHOOKS),
        description="Creates a webhook; the payload secret is in the result, once. ",
    )
    async def create_webhook(
        self,
        info: Info,
        input: Annotated[CreateWebhookInput, _input("The account, receiver, events and query.")],
    ) -> CreateWebhookPayload:
        async def work() -> CreateWebhookPayload:
            input.query = await check_payload_query(info, input.query)
            made = await create_webhook(info.context, input)
            return CreateWebhookPayload(webhook=Webhook.from_row(made.webhook), secret=made.secret)

        return await transactional(info, CreateWebhookPayload, work)

    @mutation(
        requires(P.MANAGE_WEBHOOKS),
        description="Changes a webhook; whoever changes its URL or query becomes its owner. ",
    )
    async def update_webhook(
        self,
        info: Info,
        input: Annotated[UpdateWebhookInput, _input("The webhook and what changes.")],
    ) -> UpdateWebhookPayload:
        async def work() -> UpdateWebhookPayload:
            if input.query is not strawberry.UNSET and input.query is not None:
                input.query = await check_payload_query(info, input.query)
            row = await update_webhook(info.context, input)
            return UpdateWebhookPayload(webhook=Webhook.from_row(row))

        return await transactional(info, UpdateWebhookPayload, work)

    @mutation(
        requires(P.MANAGE_WEBHOOKS),
        description="Removes a webhook and its deliveries. ",
    )
    async def delete_webhook(
        self, info: Info, input: Annotated[WebhookIdInput, _input("The webhook.")]
    ) -> DeleteWebhookPayload:
        async def work() -> DeleteWebhookPayload:
            deleted = await delete_webhook(info.context, str(input.id))
            return DeleteWebhookPayload(deleted_webhook_id=strawberry.ID(deleted))

        return await transactional(info, DeleteWebhookPayload, work)

    @mutation(
        requires(P.MANAGE_WEBHOOKS),
        description="Gives a webhook a new secret (in the result, once); the previous one "
        "keeps signing beside it for the overlap window (WEBHOOK_SECRET_OVERLAP_SECONDS). ",
    )
    async def rotate_webhook_secret(
        self, info: Info, input: Annotated[WebhookIdInput, _input("The webhook.")]
    ) -> RotateWebhookSecretPayload:
        async def work() -> RotateWebhookSecretPayload:
            made = await rotate_webhook_secret(info.context, str(input.id))
            return RotateWebhookSecretPayload(
                webhook=Webhook.from_row(made.webhook), secret=made.secret
            )

        return await transactional(info, RotateWebhookSecretPayload, work)

    @mutation(
        requires(P.MANAGE_WEBHOOKS),
        description="Sends an event again, as a new delivery. ",
    )
    async def redeliver_webhook_delivery(
        self,
        info: Info,
        input: Annotated[WebhookDeliveryIdInput, _input("The delivery to send again.")],
    ) -> RedeliverWebhookDeliveryPayload:
        async def work() -> RedeliverWebhookDeliveryPayload:
            row = await redeliver(info.context, str(input.id))
            return RedeliverWebhookDeliveryPayload(delivery=WebhookDelivery.from_row(row))

        return await transactional(info, RedeliverWebhookDeliveryPayload, work)
