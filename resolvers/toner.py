"""Toner levels reported by e-Maintenance devices, their history and the cartridge replacements
read from it, and the replenishment orders they create (forecasting.replenishment decides how
many cartridges: a level at or under the consumable's threshold, or just in time, the cartridges
the device will start within the stock location's lead time plus safety days plus its reporting
cadence, less those ordered and not yet fitted): at most one open order per device and
consumable, however often and however concurrently the device reports (the partial unique index
`uq_replenishment_orders_open` decides, with INSERT ... ON CONFLICT DO NOTHING). The ledger of
cartridges in hand, the report days and the insert (`cartridges_held`, `report_days`,
`place_orders`) are shared with the silent-device pass (resolvers/silent_replenishment.py).

A level is a percentage or one of the Printer MIB's special values (prtMarkerSuppliesLevel -2
"unknown", -3 "some remaining"; -1 "other" is taken as unknown): those are stored as a state,
never as a number, and neither orders toner nor teaches anything about cartridges."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from auth.policy import Permission
from core import clock
from core.errors import Forbidden, UserError
from core.ids import decode_id_or_none
from forecasting.replenishment import (
    CADENCE_REPORTS,
    LEDGER_DAYS,
    MAX_CADENCE_DAYS,
    cartridges_in_hand,
    order_quantity,
    reporting_cadence,
)
from forecasting.toner import is_replacement, meter_for
from models import (
    CartridgeReplacement,
    Consumable,
    Device,
    ReplenishmentOrder,
    StockLocation,
    TonerLevel,
    TonerLevelReport,
    product_model_consumables,
)
from models.enums import (
    ConsumableKind,
    MeterType,
    ReplenishmentStatus,
    TonerColour,
    TonerLevelState,
)
from models.stock import OPEN_ORDER
from resolvers.audit import audit
from resolvers.forecasts import toner_forecasts
from resolvers.loaders.meters import latest_readings_statement
from resolvers.stock import _dialect_insert, announce_order
from webhooks.events import WebhookEvent

if TYPE_CHECKING:
    from resolvers.context import Context


MAX_LEVELS = 50


# The Printer MIB's special values of prtMarkerSuppliesLevel (RFC 3805).
MIB_SPECIAL_LEVELS = {
    -1: TonerLevelState.UNKNOWN,  # "other"
    -2: TonerLevelState.UNKNOWN,
    -3: TonerLevelState.SOME_REMAINING,
}


class LevelReport(Protocol):
    """One reported level: by consumable, or by toner colour (an enum with a `value`); a
    percentage, a state, or a Printer MIB special value in `percent`."""

    @property
    def consumable_id(self) -> str | None: ...
    @property
    def colour(self) -> Any: ...
    @property
    def percent(self) -> int | None: ...
    @property
    def state(self) -> Any: ...


def level_state(level: LevelReport, field: list[str]) -> tuple[int | None, TonerLevelState]:
    """(percent or None, state) of a reported level, or the UserError saying what is wrong."""
    state = TonerLevelState(str(level.state)) if level.state is not None else None
    percent = level.percent
    if percent is not None and percent in MIB_SPECIAL_LEVELS:
        special = MIB_SPECIAL_LEVELS[percent]
        if state not in (None, special):
            raise UserError("TONER_LEVEL_STATE_CONFLICT", [*field, "state"])
        return None, special
    if state in (None, TonerLevelState.MEASURED):
        if percent is None:
            raise UserError("VALUE_REQUIRED", [*field, "percent"])
        if not 0 <= percent <= 100:
            raise UserError("PERCENT_OUT_OF_RANGE", [*field, "percent"])
        return percent, TonerLevelState.MEASURED
    if percent is not None:
        raise UserError("TONER_LEVEL_STATE_CONFLICT", [*field, "percent"])
    assert state is not None
    return None, state


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
    reported: dict[int, tuple[int | None, TonerLevelState, Consumable]] = {}
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
        percent, state = level_state(level, field)
        reported[consumable.id] = (percent, state, consumable)
    if not reported:
        return [], []

    now = clock.now()
    # The last measured level of each consumable, before this report: a jump is a new cartridge.
    previous, _ = await last_measured_levels(session, device.id, sorted(reported))
    rows = [
        {
            "device_id": device.id,
            "consumable_id": c,
            "percent": p,
            "state": state,
            "reported_at": now,
        }
        for c, (p, state, _) in reported.items()
    ]
    insert = _dialect_insert(session)
    stmt = insert(TonerLevel).values(rows)
    levels = list(
        await session.scalars(
            stmt.on_conflict_do_update(
                index_elements=[TonerLevel.device_id, TonerLevel.consumable_id],
                set_={
                    "percent": stmt.excluded.percent,
                    "state": stmt.excluded.state,
                    "reported_at": stmt.excluded.reported_at,
                },
            )
            .returning(TonerLevel)
            .execution_options(populate_existing=True)
        )
    )
    await session.execute(insert(TonerLevelReport), rows)
    replaced = {
        c: (previous[c], p)
        for c, (p, _, _) in reported.items()
        if p is not None and c in previous and is_replacement(previous[c], p)
    }
    if replaced:
        await record_replacements(session, device, replaced, reported, now)
    wanted = (
        await replenishment_due(session, device, reported, now)
        if device.stock_location_id is not None
        else {}
    )
    # Racing reports of the same low level: the index lets one insert through.
    orders = await place_orders(
        session,
        [(device.id, device.stock_location_id, c, q) for c, q in sorted(wanted.items())],
        now,
    )
    audit(
        context,
        "toner_levels.report",
        "Device",
        device.id,
        {
            "levels": {
                str(c): p if p is not None else s.value for c, (p, s, _) in reported.items()
            },
            "replacements": sorted(replaced),
            "orders": [o.id for o in orders],
        },
    )
    return [(level, reported[level.consumable_id][2]) for level in levels], orders


async def replenishment_due(
    session: AsyncSession,
    device: Device,
    reported: dict[int, tuple[int | None, TonerLevelState, Consumable]],
    now: datetime,
) -> dict[int, int]:
    """Cartridges to order per reported consumable (`forecasting.replenishment.order_quantity`:
    the cartridges the device will start within the stock location's lead time + safety days
    + its reporting cadence, at the forecast's early end, against those ordered and not yet
    fitted), from the levels and replacements just stored. Four statements, and the forecast's
    four when a toner is reported."""
    measured = sorted(c for c, (percent, _, _) in reported.items() if percent is not None)
    if not measured:
        return {}
    lead, safety = (
        await session.execute(
            select(StockLocation.lead_time_days, StockLocation.safety_days).where(
                StockLocation.id == device.stock_location_id
            )
        )
    ).one()
    in_hand = await cartridges_held(session, {(device.id, c): now for c in measured})
    days = await report_days(session, [device.id], measured, now)
    toners = {c for c in measured if reported[c][2].kind is ConsumableKind.TONER}
    found = (await toner_forecasts(session, [device.id])).get(device.id) if toners else None
    wanted: dict[int, int] = {}
    for c in measured:
        percent, _, consumable = reported[c]
        assert percent is not None
        f = found.by_consumable.get(c) if found is not None and c in toners else None
        quantity = order_quantity(
            order_days=f.order_days if f is not None else None,
            order_cycle_days=f.order_cycle_days if f is not None else None,
            at_threshold=percent <= consumable.reorder_threshold_percent,
            lead_days=lead,
            safety_days=safety,
            cadence_days=reporting_cadence(days.get((device.id, c), [])),
            in_hand=in_hand.get((device.id, c), 0),
        )
        if quantity:
            wanted[c] = quantity
    return wanted


async def cartridges_held(
    session: AsyncSession, ledgers: Mapping[tuple[int, int], datetime]
) -> dict[tuple[int, int], int]:
    """Cartridges in hand per (device, consumable) (`forecasting.replenishment.
    cartridges_in_hand`): the orders not cancelled and the replacements since LEDGER_DAYS
    before the instant given for each (now, or a silent device's last report); two statements
    whatever the batch."""
    if not ledgers:
        return {}
    since = {key: at - timedelta(days=LEDGER_DAYS) for key, at in ledgers.items()}
    earliest = min(since.values())
    device_ids = sorted({d for d, _ in ledgers})
    consumable_ids = sorted({c for _, c in ledgers})
    orders: dict[tuple[int, int], list[tuple[datetime, int]]] = defaultdict(list)
    for d, c, at, quantity in (
        await session.execute(
            select(
                ReplenishmentOrder.device_id,
                ReplenishmentOrder.consumable_id,
                ReplenishmentOrder.created_at,
                ReplenishmentOrder.quantity,
            ).where(
                ReplenishmentOrder.device_id.in_(device_ids),
                ReplenishmentOrder.consumable_id.in_(consumable_ids),
                ReplenishmentOrder.status != ReplenishmentStatus.CANCELLED,
                ReplenishmentOrder.created_at >= earliest,
            )
        )
    ).tuples():
        if (d, c) in since and at >= since[(d, c)]:
            orders[(d, c)].append((at, quantity))
    fitted: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    for d, c, at in (
        await session.execute(
            select(
                CartridgeReplacement.device_id,
                CartridgeReplacement.consumable_id,
                CartridgeReplacement.replaced_at,
            ).where(
                CartridgeReplacement.device_id.in_(device_ids),
                CartridgeReplacement.consumable_id.in_(consumable_ids),
                CartridgeReplacement.replaced_at >= earliest,
            )
        )
    ).tuples():
        if (d, c) in since and at >= since[(d, c)]:
            fitted[(d, c)].append(at)
    return {key: cartridges_in_hand(placed, fitted[key]) for key, placed in orders.items()}


async def report_days(
    session: AsyncSession, device_ids: Sequence[int], consumable_ids: Sequence[int], now: datetime
) -> dict[tuple[int, int], list[date]]:
    """The days (UTC) each (device, consumable) reported a level in the window its reporting
    cadence is read from (`forecasting.replenishment.reporting_cadence`); one statement."""
    days: dict[tuple[int, int], list[date]] = defaultdict(list)
    for d, c, at in (
        await session.execute(
            select(
                TonerLevelReport.device_id,
                TonerLevelReport.consumable_id,
                TonerLevelReport.reported_at,
            ).where(
                TonerLevelReport.device_id.in_(device_ids),
                TonerLevelReport.consumable_id.in_(consumable_ids),
                TonerLevelReport.reported_at
                >= now - timedelta(days=CADENCE_REPORTS * MAX_CADENCE_DAYS),
            )
        )
    ).tuples():
        days[(d, c)].append(at.date())
    return days


async def place_orders(
    session: AsyncSession, wanted: Sequence[tuple[int, int | None, int, int]], now: datetime
) -> list[ReplenishmentOrder]:
    """Raises the orders wanted (device, its stock location, consumable, quantity) and
    announces those raised to the location's account's webhooks. At most one open order per
    device and consumable: the partial unique index lets one insert through and the others do
    nothing (on PostgreSQL a racing insert waits for the first to commit, then skips), so
    concurrent reports and passes raise one order. One statement, and the announcements'."""
    if not wanted:
        return []
    insert = _dialect_insert(session)
    stmt = insert(ReplenishmentOrder).values(
        [
            {
                "stock_location_id": location_id,
                "device_id": device_id,
                "consumable_id": consumable_id,
                "quantity": quantity,
                "status": ReplenishmentStatus.PENDING,
                "created_at": now,
            }
            for device_id, location_id, consumable_id, quantity in wanted
        ]
    )
    orders = list(
        await session.scalars(
            stmt.on_conflict_do_nothing(
                index_elements=[ReplenishmentOrder.device_id, ReplenishmentOrder.consumable_id],
                index_where=OPEN_ORDER,
            ).returning(ReplenishmentOrder)
        )
    )
    for order in orders:
        await announce_order(session, WebhookEvent.REPLENISHMENT_ORDER_CREATED, order)
    return orders


async def last_measured_levels(
    session: AsyncSession, device_id: int, consumable_ids: list[int]
) -> tuple[dict[int, int], dict[int, datetime]]:
    """The last measured level per consumable of a device: from the history (a seek on its
    index per consumable), else the current level when measured (levels kept before the
    history existed); and when the device last reported it. One statement."""
    newest = aliased(TonerLevelReport, name="newest")
    newest_time = (
        select(func.max(newest.reported_at))
        .where(
            newest.device_id == TonerLevel.device_id,
            newest.consumable_id == TonerLevel.consumable_id,
            newest.state == TonerLevelState.MEASURED,
        )
        .scalar_subquery()
    )
    stmt = (
        select(
            TonerLevel.consumable_id,
            TonerLevel.percent,
            TonerLevel.reported_at,
            TonerLevelReport.percent,
        )
        .outerjoin(
            TonerLevelReport,
            and_(
                TonerLevelReport.device_id == TonerLevel.device_id,
                TonerLevelReport.consumable_id == TonerLevel.consumable_id,
                TonerLevelReport.reported_at == newest_time,
                TonerLevelReport.state == TonerLevelState.MEASURED,
            ),
        )
        .where(TonerLevel.device_id == device_id, TonerLevel.consumable_id.in_(consumable_ids))
    )
    found: dict[int, int] = {}
    reported_at: dict[int, datetime] = {}
    for consumable_id, current, at, measured in (await session.execute(stmt)).tuples():
        reported_at[consumable_id] = at
        percent = measured if measured is not None else current
        if percent is not None:
            found[consumable_id] = percent
    return found, reported_at


async def record_replacements(
    session: AsyncSession,
    device: Device,
    replaced: dict[int, tuple[int, int]],
    reported: dict[int, tuple[int | None, TonerLevelState, Consumable]],
    now: datetime,
) -> None:
    """Stores the replacement events, each with the counter of the meter its toner prints on
    as last read (one statement for the counters, one insert)."""
    latest = (await session.execute(latest_readings_statement([device.id]))).tuples().all()
    counters = {
        meter.value: (reading.value, reading.reading_date)
        for _, meter, reading in latest
        if reading is not None
    }
    meters = {meter.value for _, meter, _ in latest}
    rows = []
    for c, (before, after) in sorted(replaced.items()):
        colour = reported[c][2].colour
        meter = meter_for(colour.value, meters) if colour is not None else None
        value, day = counters.get(meter, (None, None)) if meter is not None else (None, None)
        rows.append(
            {
                "device_id": device.id,
                "consumable_id": c,
                "replaced_at": now,
                "from_percent": before,
                "to_percent": after,
                "meter": MeterType(meter) if meter is not None else None,
                "meter_value": value,
                "meter_date": day,
            }
        )
    await session.execute(insert(CartridgeReplacement), rows)
