"""The events a webhook may subscribe to, and their emission: one INSERT ... SELECT that adds a
delivery row for every active webhook of the object's account (or of an account above it, or
of every account) that wants the event, in the caller's transaction (the outbox pattern:
announced only if the change commits).

A receiver's payload is computed at delivery time, as the webhook's owner, from the object named
here (`subject_type`, `subject_id`): this module only says *what* happened to *which* object.
"""

from __future__ import annotations

import enum

from sqlalchemy import ColumnElement, and_, insert, literal, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from core import clock
from models import Account, DeliveryStatus, User, Webhook, WebhookDelivery


class WebhookEvent(enum.StrEnum):
    """Event names as receivers see them (the `type` of the delivered body)."""

    TICKET_CREATED = "ticket.created"
    TICKET_STATUS_CHANGED = "ticket.status_changed"
    TICKET_COMMENTED = "ticket.commented"
    READING_REFUSED = "meter_reading.refused"
    REPLENISHMENT_ORDER_CREATED = "replenishment_order.created"
    REPLENISHMENT_ORDER_SHIPPED = "replenishment_order.shipped"
    REPLENISHMENT_ORDER_DELIVERED = "replenishment_order.delivered"
    DEVICE_STATUS_CHANGED = "device.status_changed"
    # Emitted by the toner forecast when a device's predicted run-out date crosses the reorder
    # horizon: call `emit(session, WebhookEvent.TONER_FORECAST_REORDER, account_id=...,
    # subject_type="Device", subject_id=device_id)` in the transaction that stores the forecast.
    TONER_FORECAST_REORDER = "toner_forecast.reorder_horizon"
    BULK_EXPORT_FINISHED = "bulk_export.finished"


# The object type each event names (the node its payload query receives as `$id`).
SUBJECT_TYPES: dict[WebhookEvent, str] = {
    WebhookEvent.TICKET_CREATED: "Ticket",
    WebhookEvent.TICKET_STATUS_CHANGED: "Ticket",
    WebhookEvent.TICKET_COMMENTED: "Ticket",
    WebhookEvent.READING_REFUSED: "Device",
    WebhookEvent.REPLENISHMENT_ORDER_CREATED: "ReplenishmentOrder",
    WebhookEvent.REPLENISHMENT_ORDER_SHIPPED: "ReplenishmentOrder",
    WebhookEvent.REPLENISHMENT_ORDER_DELIVERED: "ReplenishmentOrder",
    WebhookEvent.DEVICE_STATUS_CHANGED: "Device",
    WebhookEvent.TONER_FORECAST_REORDER: "Device",
    WebhookEvent.BULK_EXPORT_FINISHED: "BulkExport",
}


def events_column(events: list[WebhookEvent]) -> str:
    """The stored form of a webhook's events (see `models.webhook.Webhook.events`)."""
    return "," + ",".join(sorted({e.value for e in events})) + ","


async def emit(
    session: AsyncSession,
    event: WebhookEvent,
    *,
    account_id: int | None,
    subject_id: int,
    internal: bool = False,
    owner_user_id: int | None = None,
) -> None:
    """Adds one pending delivery per interested webhook to the current transaction.

    Interested: active, wanting `event`, of `account_id`, of an account above it, or of every
    account. `internal` events (an internal ticket note) go only to the vendor's every-account
    webhooks owned by an agent (the sender checks the owner's permission again when sending).
    `owner_user_id` narrows to one owner's webhooks (an export's completion is its starter's;
    such an event has no account: `account_id` None, and then `owner_user_id` is required)."""
    if account_id is None and owner_user_id is None:
        raise ValueError("an event without an account names its webhook owner")
    above = (
        select(Account.id, Account.parent_id)
        .where(Account.id == account_id)
        .cte("webhook_accounts", recursive=True)
    )
    above = above.union_all(
        select(Account.id, Account.parent_id).join(above, Account.id == above.c.parent_id)
    )
    now = clock.now()
    conditions: list[ColumnElement[bool]] = [
        Webhook.is_active.is_(True),
        Webhook.owner_user_id.is_not(None),
        Webhook.events.like(f"%,{event.value},%"),
    ]
    if account_id is not None:
        conditions.append(
            or_(Webhook.account_id.is_(None), Webhook.account_id.in_(select(above.c.id)))
        )
    if internal:
        # Only the vendor's own webhooks (every account, owned by an agent): a webhook bound
        # to a customer's account is the customer's, whoever last edited it.
        conditions.append(Webhook.account_id.is_(None))
        conditions.append(Webhook.owner_user_id.in_(select(User.id).where(User.is_agent.is_(True))))
    if owner_user_id is not None:
        conditions.append(Webhook.owner_user_id == owner_user_id)
    rows = select(
        Webhook.id,
        literal(event.value),
        literal(SUBJECT_TYPES[event]),
        literal(subject_id),
        literal(internal),
        literal(DeliveryStatus.PENDING.value),
        literal(now, type_=WebhookDelivery.__table__.c.available_at.type),
        literal(0),
        literal(now, type_=WebhookDelivery.__table__.c.created_at.type),
    ).where(and_(true(), *conditions))
    await session.execute(
        insert(WebhookDelivery).from_select(
            [
                "webhook_id",
                "event",
                "subject_type",
                "subject_id",
                "internal",
                "status",
                "available_at",
                "attempts",
                "created_at",
            ],
            rows,
        )
    )
