"""Webhooks: who may manage which (the scope's `webhooks_clause`, MANAGE_WEBHOOKS on the
webhook's account), their creation, changes, secret rotation and redelivery, the lists, and
what the sender asks at delivery time (may the owner still receive this event?).

The payload query is checked against the schema by the schema layer before it reaches here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

import mail
from auth.policy import Permission
from auth.principal import Principal
from core import clock
from core.errors import Forbidden, UserError
from core.ids import decode_id_or_none
from models import (
    Account,
    DeliveryStatus,
    Device,
    ReplenishmentOrder,
    StockLocation,
    Ticket,
    User,
    Webhook,
    WebhookDelivery,
)
from resolvers.audit import audit
from resolvers.loaders.webhooks import (
    DELIVERY_SORT,
    DeliveryCountByWebhookIdLoader,
    DeliveryPageByWebhookIdLoader,
)
from resolvers.pagination import Page, PageRequest, SortField, build_page, paginate
from resolvers.scoping import Scope, build_scope
from resolvers.tickets import sees_internal
from webhooks import signing, targets
from webhooks.events import WebhookEvent, events_column
from webhooks.sender import Claimed, Refusal

if TYPE_CHECKING:
    from resolvers.context import Context

P = Permission
MAX_QUERY_LENGTH = 10_000
MAX_DESCRIPTION_LENGTH = 500
MAX_URL_LENGTH = 2000


class WebhookInput(Protocol):
    """What `createWebhook` reads of its input (the query already checked)."""

    @property
    def account_id(self) -> strawberry.ID | None: ...
    @property
    def url(self) -> str: ...
    @property
    def events(self) -> Sequence[WebhookEvent]: ...
    @property
    def query(self) -> str: ...
    @property
    def description(self) -> str | None: ...


class WebhookChanges(Protocol):
    """What `updateWebhook` reads of its input (fields left out are UNSET)."""

    @property
    def id(self) -> strawberry.ID: ...
    @property
    def url(self) -> str | None: ...
    @property
    def events(self) -> Sequence[WebhookEvent] | None: ...
    @property
    def query(self) -> str | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def active(self) -> bool | None: ...


@dataclass(frozen=True)
class WithSecret:
    """A webhook and its new secret (shown once)."""

    webhook: Webhook
    secret: str


def manages(scope: Scope, account_id: int | None) -> bool:
    """May the viewer manage webhooks of this account (None: of every account)?"""
    if account_id is None:
        return P.MANAGE_WEBHOOKS in scope.global_permissions
    return P.MANAGE_WEBHOOKS in scope.permissions_on_account(account_id)


async def _person(context: Context) -> Scope:
    """Webhooks run as a person (the owner): a machine client cannot own one."""
    scope = await context.require_scope()
    if scope.user is None or not scope.holds_anywhere(P.MANAGE_WEBHOOKS):
        raise Forbidden(language=context.language, required=P.MANAGE_WEBHOOKS.value)
    return scope


def _url(raw: str, context: Context) -> str:
    url = (raw or "").strip()
    if not url:
        raise UserError("VALUE_REQUIRED", "url")
    if len(url) > MAX_URL_LENGTH:
        raise UserError("VALUE_TOO_LONG", "url", max=MAX_URL_LENGTH)
    try:
        targets.check_url(url, context.settings)
    except targets.TargetRefused as refused:
        raise UserError(refused.code, "url") from None
    return url


def _events(events: Sequence[WebhookEvent]) -> str:
    if not events:
        raise UserError("VALUE_REQUIRED", "events")
    return events_column(list(events))


def _description(raw: str | None) -> str:
    text = (raw or "").strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        raise UserError("VALUE_TOO_LONG", "description", max=MAX_DESCRIPTION_LENGTH)
    return text


async def create_webhook(context: Context, data: WebhookInput) -> WithSecret:
    """UserError: NOT_FOUND (account), VALUE_REQUIRED, VALUE_TOO_LONG, WEBHOOK_URL_*;
    Forbidden without MANAGE_WEBHOOKS on the account (an account the viewer cannot see answers
    NOT_FOUND). Without an account: every account's events, for agents only."""
    scope = await _person(context)
    account_id: int | None = None
    if data.account_id is not None:
        account_id = decode_id_or_none(str(data.account_id), "Account")
        visible = None
        if account_id is not None:
            visible = await context.session.scalar(
                select(Account.id).where(Account.id == account_id, scope.accounts_clause())
            )
        if visible is None:
            raise UserError("NOT_FOUND", "accountId")
    if not manages(scope, account_id):
        if account_id is None:
            raise UserError("VALUE_REQUIRED", "accountId")
        raise Forbidden(language=context.language, required=P.MANAGE_WEBHOOKS.value)
    secret = signing.new_secret()
    now = clock.now()
    webhook = Webhook(
        account_id=account_id,
        owner_user_id=scope.user_id,
        url=_url(data.url, context),
        events=_events(data.events),
        query=data.query,
        description=_description(data.description),
        secret=secret,
        is_active=True,
        consecutive_failures=0,
        created_at=now,
        updated_at=now,
    )
    context.session.add(webhook)
    await context.session.flush()
    audit(context, "webhook.create", "Webhook", webhook.id, {"url": webhook.url})
    return WithSecret(webhook, secret)


async def visible_webhook(context: Context, raw_id: str, *, field: str = "id") -> Webhook:
    """The webhook, if the viewer manages it (UserError NOT_FOUND otherwise: one it may not
    manage answers like a missing one)."""
    scope = await _person(context)
    webhook_id = decode_id_or_none(raw_id, "Webhook")
    webhook = None
    if webhook_id is not None:
        webhook = await context.session.scalar(
            select(Webhook).where(Webhook.id == webhook_id, scope.webhooks_clause())
        )
    if webhook is None or not manages(scope, webhook.account_id):
        raise UserError("NOT_FOUND", field)
    return webhook


async def update_webhook(context: Context, data: WebhookChanges) -> Webhook:
    """Changes what was given. Whoever changes the URL or the query becomes the owner: the
    payload is then computed with the changer's permissions, never with those of someone who
    did not choose where it goes or what it reads. Re-activating clears the failure count."""
    webhook = await visible_webhook(context, str(data.id))
    scope = await context.require_scope()
    if data.url is not strawberry.UNSET and data.url is not None:
        webhook.url = _url(data.url, context)
        webhook.owner_user_id = scope.user_id
    if data.events is not strawberry.UNSET and data.events is not None:
        webhook.events = _events(data.events)
    if data.query is not strawberry.UNSET and data.query is not None:
        webhook.query = data.query
        webhook.owner_user_id = scope.user_id
    if data.description is not strawberry.UNSET:
        webhook.description = _description(data.description)
    if data.active is not strawberry.UNSET and data.active is not None:
        if data.active and not webhook.is_active:
            webhook.consecutive_failures = 0
            webhook.disabled_reason = None
        elif not data.active and webhook.is_active:
            webhook.disabled_reason = "DISABLED_BY_USER"
        webhook.is_active = data.active
    webhook.updated_at = clock.now()
    audit(context, "webhook.update", "Webhook", webhook.id, {"url": webhook.url})
    return webhook


async def delete_webhook(context: Context, raw_id: str) -> str:
    webhook = await visible_webhook(context, raw_id)
    audit(context, "webhook.delete", "Webhook", webhook.id, {"url": webhook.url})
    await context.session.delete(webhook)
    return raw_id


async def rotate_webhook_secret(context: Context, raw_id: str) -> WithSecret:
    """A new secret; the previous one keeps signing (beside it) for the overlap window."""
    webhook = await visible_webhook(context, raw_id)
    now = clock.now()
    secret = signing.new_secret()
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = now + timedelta(
        seconds=context.settings.webhook_secret_overlap_seconds
    )
    webhook.secret = secret
    webhook.updated_at = now
    audit(context, "webhook.rotate_secret", "Webhook", webhook.id)
    return WithSecret(webhook, secret)


async def redeliver(context: Context, raw_id: str) -> WebhookDelivery:
    """A new pending delivery of the same event (the payload computed afresh when sent)."""
    scope = await _person(context)
    delivery_id = decode_id_or_none(raw_id, "WebhookDelivery")
    row = None
    if delivery_id is not None:
        row = (
            await context.session.execute(
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id == delivery_id, scope.webhooks_clause())
            )
        ).one_or_none()
    if row is None or not manages(scope, row[1].account_id):
        raise UserError("NOT_FOUND", "id")
    original, webhook = row
    if not webhook.is_active:
        raise UserError("WEBHOOK_INACTIVE", "id")
    now = clock.now()
    copy = WebhookDelivery(
        webhook_id=webhook.id,
        event=original.event,
        subject_type=original.subject_type,
        subject_id=original.subject_id,
        internal=original.internal,
        status=DeliveryStatus.PENDING,
        available_at=now,
        attempts=0,
        created_at=now,
    )
    context.session.add(copy)
    await context.session.flush()
    audit(context, "webhook.redeliver", "WebhookDelivery", copy.id, {"of": original.id})
    return copy


async def webhook_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Page:
    scope = await context.require_scope()
    stmt = select(Webhook).where(scope.webhooks_clause())
    sort = [SortField(Webhook.id, "int")]
    return await paginate(context.session, stmt, sort, PageRequest(first, after, last, before))


async def delivery_connection(
    context: Context,
    webhook_id: int,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Page:
    """A webhook's deliveries, newest first (the webhook was reached through the scope). A
    plain first page and `totalCount` are batched across webhooks by loaders."""
    request = PageRequest(first, after, last, before).validated()
    counts = context.loaders[DeliveryCountByWebhookIdLoader]

    async def count() -> int:
        return int(await counts.load(webhook_id))

    if request.is_first_page:
        pages = context.loaders[DeliveryPageByWebhookIdLoader]
        rows, has_more = await pages.load((webhook_id, request.limit))
        return build_page(rows, DELIVERY_SORT, request, has_more, count)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    return await paginate(
        context.session, stmt, DELIVERY_SORT, request, descending=True, count=count
    )


# --- at delivery time (the sender's questions) ----------------------------------------------


async def owner_scope(session: AsyncSession, delivery: Claimed) -> Scope | Refusal:
    """The owner's scope when the owner may still receive this delivery; why not otherwise.

    - a removed or deactivated owner: FAILED, WEBHOOK_OWNER_INACTIVE (the webhook stops);
    - an owner who no longer holds MANAGE_WEBHOOKS on the account: FAILED,
      WEBHOOK_OWNER_NOT_PERMITTED;
    - an object the owner may not see (now), or an internal note for an owner who does not see
      internal notes: SKIPPED, NOT_VISIBLE (nothing is sent)."""
    if delivery.owner_user_id is None:
        return Refusal(DeliveryStatus.FAILED, "WEBHOOK_OWNER_INACTIVE")
    scope = await build_scope(Principal(user_id=delivery.owner_user_id), session)
    if scope.user is None:
        return Refusal(DeliveryStatus.FAILED, "WEBHOOK_OWNER_INACTIVE")
    if not manages(scope, delivery.account_id):
        return Refusal(DeliveryStatus.FAILED, "WEBHOOK_OWNER_NOT_PERMITTED")
    if not await _sees_subject(session, scope, delivery):
        return Refusal(DeliveryStatus.SKIPPED, "NOT_VISIBLE")
    return scope


async def _sees_subject(session: AsyncSession, scope: Scope, delivery: Claimed) -> bool:
    kind, pk = delivery.subject_type, delivery.subject_id
    if kind == "Ticket":
        ticket = await session.scalar(select(Ticket).where(Ticket.id == pk, scope.tickets_clause()))
        if ticket is None:
            return False
        if delivery.internal:
            return sees_internal(scope, ticket)
        return True
    if delivery.internal:
        return False
    if kind == "Device":
        found = await session.scalar(
            select(Device.id).where(Device.id == pk, scope.devices_clause())
        )
        return found is not None
    if kind == "ReplenishmentOrder":
        found = await session.scalar(
            select(ReplenishmentOrder.id).where(
                ReplenishmentOrder.id == pk,
                ReplenishmentOrder.stock_location_id.in_(
                    select(StockLocation.id).where(scope.stock_locations_clause())
                ),
            )
        )
        return found is not None
    # a bulk export's completion is emitted for its starter's webhooks only
    return kind == "BulkExport"


async def notify_disabled(session: AsyncSession, webhook: Webhook) -> None:
    """Mails the owner (in their language) that the webhook was disabled."""
    if webhook.owner_user_id is None:
        return
    owner = await session.get(User, webhook.owner_user_id)
    if owner is None or not owner.is_active:
        return
    mail.enqueue_mail(
        session,
        to=owner.email,
        language=owner.language,
        template="webhooks.disabled",
        params={
            "name": owner.name,
            "url": webhook.url,
            "description": webhook.description or webhook.url,
            "failures": webhook.consecutive_failures,
        },
    )
