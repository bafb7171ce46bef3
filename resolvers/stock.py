"""Stock locations: the scoped list, their updates and counts, and the vendor's side of
replenishment orders (shipping, delivery)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

import i18n
from auth.policy import Permission
from core import clock
from core.errors import Forbidden, UserError
from core.ids import decode_id, decode_id_or_none
from models import Consumable, ReplenishmentOrder, StockLevel, StockLocation
from models.enums import ReplenishmentStatus
from resolvers.accounts import account_tree
from resolvers.audit import audit
from resolvers.loaders.stock import (
    ORDER_SORT,
    ReplenishmentOrderCountByStockLocationIdLoader,
    ReplenishmentOrderPageByStockLocationIdLoader,
    replenishment_orders,
)
from resolvers.pagination import Page, PageRequest, SortField, build_page, paginate
from webhooks.events import WebhookEvent, emit

if TYPE_CHECKING:
    from resolvers.context import Context


P = Permission
MAX_COUNTS = 500


class StockLocationFilter(Protocol):
    """What the stock locations list reads of its filter."""

    @property
    def low_stock(self) -> bool | None: ...
    @property
    def account_ids(self) -> Sequence[str] | None: ...


class StockContact(Protocol):
    @property
    def name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...


class StockLocationChanges(Protocol):
    """What `updateStockLocation` reads of its input."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def shipping_instructions(self) -> str | None: ...
    @property
    def contact(self) -> StockContact | None: ...
    @property
    def version(self) -> int | None: ...
    @property
    def lead_time_days(self) -> int | None: ...
    @property
    def safety_days(self) -> int | None: ...


# Bounds of a stock location's lead time and safety days.
MAX_PLANNING_DAYS = 365


class StockCount(Protocol):
    @property
    def consumable_id(self) -> str: ...
    @property
    def quantity(self) -> int: ...


class StockCountReport(Protocol):
    """What `recordStockCount` reads of its input."""

    @property
    def stock_location_id(self) -> str: ...
    @property
    def counts(self) -> Sequence[StockCount]: ...


class OrderChange(Protocol):
    """What `updateReplenishmentOrder` reads of its input (`status`: an enum with a value)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> Any: ...


# Which status an order may move to from which.
TRANSITIONS: dict[ReplenishmentStatus, frozenset[ReplenishmentStatus]] = {
    ReplenishmentStatus.SHIPPED: frozenset({ReplenishmentStatus.PENDING}),
    ReplenishmentStatus.DELIVERED: frozenset({ReplenishmentStatus.SHIPPED}),
    ReplenishmentStatus.CANCELLED: frozenset(
        {ReplenishmentStatus.PENDING, ReplenishmentStatus.SHIPPED}
    ),
}


def low_stock_clause() -> Any:
    return exists().where(
        StockLevel.stock_location_id == StockLocation.id,
        StockLevel.quantity <= StockLevel.reorder_point,
    )


async def stock_location_connection(
    context: Context,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    filter: StockLocationFilter | None,
) -> Page:
    scope = await context.require_scope()
    stmt = select(StockLocation).where(scope.stock_locations_clause())
    if filter is not None:
        if filter.low_stock is not None:
            stmt = stmt.where(low_stock_clause() if filter.low_stock else ~low_stock_clause())
        if filter.account_ids is not None:
            ids = [decode_id(i, "Account", language=context.language) for i in filter.account_ids]
            tree = account_tree(ids)
            stmt = stmt.where(StockLocation.account_id.in_(select(tree.c.id)))
    sort = [
        SortField(StockLocation.name.expression, "str"),
        SortField(StockLocation.id.expression, "int"),
    ]
    return await paginate(
        context.session,
        stmt,
        sort,
        PageRequest(first, after, last, before),
    )


async def replenishment_order_connection(
    context: Context,
    location_id: int,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    statuses: Sequence[ReplenishmentStatus] | None,
) -> Page:
    """A page of a location's orders (the caller has seen the location). A plain first page
    and `totalCount` are batched across locations by loaders, so a list of locations with
    their orders costs the same statements for one location as for a hundred."""

    request = PageRequest(first, after, last, before).validated()
    wanted = None if statuses is None else frozenset(statuses)
    counts = context.loaders[ReplenishmentOrderCountByStockLocationIdLoader]

    async def count() -> int:
        return int(await counts.load((location_id, wanted)))

    if request.is_first_page:
        pages = context.loaders[ReplenishmentOrderPageByStockLocationIdLoader]
        rows, has_more = await pages.load((location_id, request.limit, wanted))
        return build_page(rows, ORDER_SORT, request, has_more, count)
    return await paginate(
        context.session,
        replenishment_orders(wanted).where(ReplenishmentOrder.stock_location_id == location_id),
        ORDER_SORT,
        request,
        descending=True,
        count=count,
    )


async def _location_to_manage(context: Context, raw_id: str, field: str) -> StockLocation:
    """The location, locked for the change; out of scope answers like a missing one."""
    scope = await context.require_scope()
    location_id = decode_id_or_none(raw_id, "StockLocation")
    row = None
    if location_id is not None:
        row = await context.session.scalar(
            select(StockLocation)
            .where(StockLocation.id == location_id, scope.stock_locations_clause())
            .with_for_update()
        )
    if row is None:
        raise UserError("NOT_FOUND", field)
    if P.MANAGE_STOCK_LOCATIONS not in scope.stock_location_permissions(row):
        raise Forbidden(language=context.language, required=P.MANAGE_STOCK_LOCATIONS.value)
    return row


def _text(value: str | None, field: list[str], maximum: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > maximum:
        raise UserError("VALUE_TOO_LONG", field, max=maximum)
    return value or None


async def update_stock_location(context: Context, data: StockLocationChanges) -> StockLocation:
    row = await _location_to_manage(context, str(data.id), "id")
    if data.version is not None and data.version != row.version:
        raise UserError("STALE_VERSION", "version")
    changes: dict[str, Any] = {}
    if data.name is not None:
        name = _text(data.name, ["name"], 200)
        if not name:
            raise UserError("STOCK_LOCATION_NAME_REQUIRED", "name")
        changes["name"] = name
    if data.shipping_instructions is not None:
        instructions = _text(data.shipping_instructions, ["shippingInstructions"], 2000)
        changes["shipping_instructions"] = instructions or ""
    if data.contact is not None:
        email = _text(data.contact.email, ["contact", "email"], 254)
        if email is not None and (
            "@" not in email or " " in email or email.startswith("@") or email.endswith("@")
        ):
            raise UserError("INVALID_CONTACT_EMAIL", ["contact", "email"])
        changes["contact_name"] = _text(data.contact.name, ["contact", "name"], 200)
        changes["contact_phone"] = _text(data.contact.phone, ["contact", "phone"], 50)
        changes["contact_email"] = email
    for name, field in (("lead_time_days", "leadTimeDays"), ("safety_days", "safetyDays")):
        days = getattr(data, name)
        if days is not None:
            if not 0 <= days <= MAX_PLANNING_DAYS:
                raise UserError("DAYS_OUT_OF_RANGE", field, minimum=0, maximum=MAX_PLANNING_DAYS)
            changes[name] = days
    before = {key: getattr(row, key) for key in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    row.version += 1
    await context.session.flush()
    audit(
        context,
        "stock_location.update",
        "StockLocation",
        row.id,
        {"before": before, "after": changes, "version": row.version},
    )
    return row


async def record_stock_count(context: Context, data: StockCountReport) -> StockLocation:
    row = await _location_to_manage(context, str(data.stock_location_id), "stockLocationId")
    if len(data.counts) > MAX_COUNTS:
        raise UserError("VALUE_TOO_LONG", "counts", max=MAX_COUNTS)
    wanted: dict[int, int] = {}
    for index, count in enumerate(data.counts):
        consumable_id = decode_id_or_none(str(count.consumable_id), "Consumable")
        if consumable_id is None:
            raise UserError("UNKNOWN_CONSUMABLE", ["counts", str(index), "consumableId"])
        if consumable_id in wanted:
            raise UserError("DUPLICATE_CONSUMABLE", ["counts", str(index), "consumableId"])
        if count.quantity < 0:
            raise UserError("QUANTITY_NEGATIVE", ["counts", str(index), "quantity"])
        wanted[consumable_id] = count.quantity
    known = set(
        await context.session.scalars(select(Consumable.id).where(Consumable.id.in_(wanted)))
    )
    for index, consumable_id in enumerate(wanted):
        if consumable_id not in known:
            raise UserError("UNKNOWN_CONSUMABLE", ["counts", str(index), "consumableId"])
    now = clock.now()
    if wanted:
        await upsert_stock_levels(
            context.session,
            [
                {
                    "stock_location_id": row.id,
                    "consumable_id": c,
                    "quantity": q,
                    "updated_at": now,
                }
                for c, q in wanted.items()
            ],
            add=False,
        )
    audit(
        context,
        "stock_location.count",
        "StockLocation",
        row.id,
        {"counts": {str(c): q for c, q in wanted.items()}},
    )
    return row


async def upsert_stock_levels(
    session: AsyncSession, rows: Sequence[dict[str, Any]], *, add: bool
) -> None:
    """Insert the levels or, where they exist, set (`add=False`) or add to their quantity."""
    insert = _dialect_insert(session)
    stmt = insert(StockLevel).values(list(rows))
    quantity = StockLevel.quantity + stmt.excluded.quantity if add else stmt.excluded.quantity
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[StockLevel.stock_location_id, StockLevel.consumable_id],
            set_={"quantity": quantity, "updated_at": stmt.excluded.updated_at},
        )
    )


def _dialect_insert(session: AsyncSession) -> Any:
    """INSERT with ON CONFLICT for the session's database (PostgreSQL or SQLite)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


async def update_replenishment_order(context: Context, data: OrderChange) -> ReplenishmentOrder:
    scope = await context.require_scope()
    if not scope.holds_anywhere(P.MANAGE_REPLENISHMENT):
        raise Forbidden(language=context.language, required=P.MANAGE_REPLENISHMENT.value)
    order_id = decode_id_or_none(str(data.id), "ReplenishmentOrder")
    visible = select(StockLocation.id).where(scope.stock_locations_clause())
    order = None
    if order_id is not None:
        order = await context.session.scalar(
            select(ReplenishmentOrder).where(
                ReplenishmentOrder.id == order_id,
                ReplenishmentOrder.stock_location_id.in_(visible),
            )
        )
    if order is None:
        raise UserError("NOT_FOUND", "id")
    wanted = ReplenishmentStatus(data.status)
    allowed_from = TRANSITIONS.get(wanted, frozenset())
    if order.status not in allowed_from:
        raise _transition_error(order.status, wanted)
    now = clock.now()
    values: dict[str, Any] = {"status": wanted}
    if wanted is ReplenishmentStatus.SHIPPED:
        values["shipped_at"] = now
    elif wanted is ReplenishmentStatus.DELIVERED:
        values["delivered_at"] = now
    # Conditional on the status read: two agents delivering at once add the stock only once.
    moved = await context.session.scalar(
        update(ReplenishmentOrder)
        .where(and_(ReplenishmentOrder.id == order.id, ReplenishmentOrder.status == order.status))
        .values(**values)
        .returning(ReplenishmentOrder.id)
        .execution_options(synchronize_session=False)
    )
    if moved is None:
        raise UserError("STALE_VERSION", "id")
    previous = order.status
    for key, value in values.items():
        set_committed_value(order, key, value)
    if wanted is ReplenishmentStatus.DELIVERED:
        await upsert_stock_levels(
            context.session,
            [
                {
                    "stock_location_id": order.stock_location_id,
                    "consumable_id": order.consumable_id,
                    "quantity": order.quantity,
                    "updated_at": now,
                }
            ],
            add=True,
        )
    announced = ORDER_EVENTS.get(wanted)
    if announced is not None:
        await announce_order(context.session, announced, order)
    audit(
        context,
        "replenishment_order.update",
        "ReplenishmentOrder",
        order.id,
        {"from": previous.value, "to": wanted.value},
    )
    return order


# The webhook event of an order moving to a status (a cancellation announces nothing).
ORDER_EVENTS = {
    ReplenishmentStatus.SHIPPED: WebhookEvent.REPLENISHMENT_ORDER_SHIPPED,
    ReplenishmentStatus.DELIVERED: WebhookEvent.REPLENISHMENT_ORDER_DELIVERED,
}


async def announce_order(
    session: AsyncSession, event: WebhookEvent, order: ReplenishmentOrder
) -> None:
    """Webhook deliveries for the account of the stock location the order ships to."""
    account_id = await session.scalar(
        select(StockLocation.account_id).where(StockLocation.id == order.stock_location_id)
    )
    if account_id is not None:
        await emit(session, event, account_id=account_id, subject_id=order.id)


# Order statuses as people read them: `order_status.<value>` in locale/.
ORDER_STATUS_LABELS: dict[ReplenishmentStatus, i18n.Localized] = {
    status: i18n.Localized(f"order_status.{status.value}") for status in ReplenishmentStatus
}


def _transition_error(current: ReplenishmentStatus, wanted: ReplenishmentStatus) -> UserError:
    return UserError(
        "INVALID_ORDER_TRANSITION",
        "status",
        current=ORDER_STATUS_LABELS[current],
        wanted=ORDER_STATUS_LABELS[wanted],
    )
