"""Toner levels reported by e-Maintenance devices, and the replenishment orders a low level
creates: at most one open order per device and consumable, however often and however
concurrently the device reports (the partial unique index `uq_replenishment_orders_open` decides,
with INSERT ... ON CONFLICT DO NOTHING)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from auth.policy import Permission
from core import clock
from core.errors import Forbidden, UserError
from core.ids import decode_id_or_none
from models import Consumable, Device, ReplenishmentOrder, TonerLevel, product_model_consumables
from models.enums import ConsumableKind, ReplenishmentStatus, TonerColour
from models.stock import OPEN_ORDER
from resolvers.audit import audit
from resolvers.stock import _dialect_insert, announce_order
from webhooks.events import WebhookEvent

if TYPE_CHECKING:
    from resolvers.context import Context


MAX_LEVELS = 50


class LevelReport(Protocol):
    """One reported level: by consumable, or by toner colour (an enum with a `value`)."""

    @property
    def consumable_id(self) -> str | None: ...
    @property
    def colour(self) -> Any: ...
    @property
    def percent(self) -> int: ...


class LevelsReport(Protocol):
    """What `reportTonerLevels` reads of its input."""

    @property
    def device_id(self) -> str: ...
    @property
    def levels(self) -> Sequence[LevelReport]: ...


async def report_toner_levels(
    context: Context, data: LevelsReport
) -> tuple[list[tuple[TonerLevel, Consumable]], list[ReplenishmentOrder]]:
    scope = await context.require_scope()
    if not scope.holds_anywhere(Permission.REPORT_TONER_LEVELS):
        raise Forbidden(language=context.language, required=Permission.REPORT_TONER_LEVELS.value)
    session = context.session
    # The integration reports for every e-Maintenance device of the vendor's customers.
    device_id = decode_id_or_none(str(data.device_id), "Device")
    device = (
        await session.scalar(select(Device).where(Device.id == device_id))
        if device_id is not None
        else None
    )
    if device is None:
        raise UserError("NOT_FOUND", "deviceId")
    if not device.e_maintenance:
        raise UserError("DEVICE_NOT_ON_E_MAINTENANCE", "deviceId")
    if len(data.levels) > MAX_LEVELS:
        raise UserError("VALUE_TOO_LONG", "levels", max=MAX_LEVELS)

    takes = list(
        await session.scalars(
            select(Consumable)
            .join(
                product_model_consumables,
                product_model_consumables.c.consumable_id == Consumable.id,
            )
            .where(product_model_consumables.c.product_model_id == device.product_model_id)
        )
    )
    by_id = {c.id: c for c in takes}
    toner_by_colour: dict[TonerColour, Consumable] = {
        c.colour: c for c in takes if c.colour is not None and c.kind is ConsumableKind.TONER
    }
    reported: dict[int, tuple[int, Consumable]] = {}
    for index, level in enumerate(data.levels):
        field = ["levels", str(index)]
        if (level.consumable_id is None) == (level.colour is None):
            raise UserError("TONER_LEVEL_NEEDS_ONE_KEY", field)
        if level.consumable_id is not None:
            consumable = by_id.get(decode_id_or_none(str(level.consumable_id), "Consumable") or 0)
        else:
            consumable = toner_by_colour.get(TonerColour(str(level.colour)))
        if consumable is None:
            raise UserError("CONSUMABLE_NOT_FOR_DEVICE", field)
        if not 0 <= level.percent <= 100:
            raise UserError("PERCENT_OUT_OF_RANGE", [*field, "percent"])
        reported[consumable.id] = (level.percent, consumable)
    if not reported:
        return [], []

    now = clock.now()
    insert = _dialect_insert(session)
    stmt = insert(TonerLevel).values(
        [
            {"device_id": device.id, "consumable_id": c, "percent": p, "reported_at": now}
            for c, (p, _) in reported.items()
        ]
    )
    levels = list(
        await session.scalars(
            stmt.on_conflict_do_update(
                index_elements=[TonerLevel.device_id, TonerLevel.consumable_id],
                set_={"percent": stmt.excluded.percent, "reported_at": stmt.excluded.reported_at},
            )
            .returning(TonerLevel)
            .execution_options(populate_existing=True)
        )
    )
    low = [
        c
        for c, (percent, consumable) in reported.items()
        if percent <= consumable.reorder_threshold_percent
    ]
    orders: list[ReplenishmentOrder] = []
    if low and device.stock_location_id is not None:
        # Racing reports of the same low level: the index lets one insert through, the
        # others do nothing (on PostgreSQL they wait for the first to commit, then skip).
        order_stmt = insert(ReplenishmentOrder).values(
            [
                {
                    "stock_location_id": device.stock_location_id,
                    "device_id": device.id,
                    "consumable_id": c,
                    "quantity": 1,
                    "status": ReplenishmentStatus.PENDING,
                    "created_at": now,
                }
                for c in sorted(low)
            ]
        )
        orders = list(
            await session.scalars(
                order_stmt.on_conflict_do_nothing(
                    index_elements=[ReplenishmentOrder.device_id, ReplenishmentOrder.consumable_id],
                    index_where=OPEN_ORDER,
                ).returning(ReplenishmentOrder)
            )
        )
    for order in orders:
        await announce_order(session, WebhookEvent.REPLENISHMENT_ORDER_CREATED, order)
    audit(
        context,
        "toner_levels.report",
        "Device",
        device.id,
        {
            "levels": {str(c): p for c, (p, _) in reported.items()},
            "orders": [o.id for o in orders],
        },
    )
    return [(level, reported[level.consumable_id][1]) for level in levels], orders
