"""Replenishment for e-Maintenance devices that have gone silent: an order is otherwise decided
only when a device reports its levels (`reportTonerLevels`), and a report plans for the next one
within the device's reporting cadence. A device whose next report is overdue
(`forecasting.replenishment.is_silent`: its last measured toner level is older than its cadence,
at least a day, at most MAX_SILENT_DAYS) gets its order from this pass instead: the forecast
made on the day of its last report, counted down by the days since, through the same rule
(`silent_order_quantity` -> `order_quantity`, with the pass's next chance in place of the
cadence), the same ledger of cartridges in hand (as of that report) and the same insert as a
report (`resolvers.toner.place_orders`: one open order per device and consumable, announced to
webhooks), with an audit entry per order raised (no actor: the system).

A fixed number of statements per CHUNK_DEVICES candidate devices (one for the candidates, then
per chunk the report days, and for the silent ones the forecasts' four and the ledger's two),
then the insert and each order's announcement. Reads in one transaction, writes in another
(SQLite: after taking the write lock): an order raised in between by a report or by another
worker's pass makes this one's insert do nothing (the partial unique index decides), so any
number of workers may run the pass at once.

Run by the periodic task of the app's lifespan (`SilentReplenishmentTask`) and by
`python -m cli order-for-silent-devices`."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import clock
from core.polling import PeriodicJob
from forecasting.replenishment import (
    MAX_SILENT_DAYS,
    is_silent,
    projected_order_days,
    reporting_cadence,
    silent_order_quantity,
)
from models import Consumable, Device, ReplenishmentOrder, StockLocation, TonerLevel
from models.enums import ConsumableKind, DeviceStatus, TonerLevelState
from models.session import begin_writing
from models.stock import OPEN_ORDER
from resolvers.audit import system_audit
from resolvers.forecasts import toner_forecasts
from resolvers.toner import cartridges_held, place_orders, report_days

log = logging.getLogger("portal.replenishment")

# Devices whose report days, forecasts and ledgers are read in one go.
CHUNK_DEVICES = 500
AUDIT_ACTION = "replenishment_order.silent_device"


@dataclass(frozen=True)
class Candidate:
    """A toner whose last measured level is old enough to be overdue, with nothing on order."""

    device_id: int
    consumable_id: int
    stock_location_id: int
    percent: int
    reported_at: datetime
    lead_days: int
    safety_days: int
    threshold: int


@dataclass(frozen=True)
class SilentOrder:
    """An order the pass wants: the candidate, how many, and the forecast's early end (days
    from the site's today; None without a forecast)."""

    candidate: Candidate
    quantity: int
    order_days: int | None


async def candidates(session: AsyncSession, now: datetime) -> list[Candidate]:
    """The toners of e-Maintenance devices (not removed) supplied by a stock location whose
    last report measured the level more than a day and at most MAX_SILENT_DAYS ago, and that
    have no open order (the insert would do nothing); one statement."""
    open_order = exists().where(
        and_(
            ReplenishmentOrder.device_id == TonerLevel.device_id,
            ReplenishmentOrder.consumable_id == TonerLevel.consumable_id,
            OPEN_ORDER,
        )
    )
    stmt = (
        select(
            TonerLevel.device_id,
            TonerLevel.consumable_id,
            Device.stock_location_id,
            TonerLevel.percent,
            TonerLevel.reported_at,
            StockLocation.lead_time_days,
            StockLocation.safety_days,
            Consumable.reorder_threshold_percent,
        )
        .join(Device, Device.id == TonerLevel.device_id)
        .join(StockLocation, StockLocation.id == Device.stock_location_id)
        .join(Consumable, Consumable.id == TonerLevel.consumable_id)
        .where(
            Device.e_maintenance.is_(True),
            Device.status != DeviceStatus.REMOVED,
            Consumable.kind == ConsumableKind.TONER,
            TonerLevel.state == TonerLevelState.MEASURED,
            TonerLevel.reported_at < now - timedelta(days=1),
            TonerLevel.reported_at >= now - timedelta(days=MAX_SILENT_DAYS),
            ~open_order,
        )
        .order_by(TonerLevel.device_id, TonerLevel.consumable_id)
    )
    return [
        Candidate(d, c, location, percent, at, lead, safety, threshold)
        for d, c, location, percent, at, lead, safety, threshold in (
            await session.execute(stmt)
        ).tuples()
        if location is not None and percent is not None
    ]


async def silent_orders_due(session: AsyncSession, now: datetime) -> list[SilentOrder]:
    """The orders the silent devices need now (reads only)."""
    by_device: dict[int, list[Candidate]] = defaultdict(list)
    for candidate in await candidates(session, now):
        by_device[candidate.device_id].append(candidate)
    wanted: list[SilentOrder] = []
    devices = sorted(by_device)
    for start in range(0, len(devices), CHUNK_DEVICES):
        chunk = devices[start : start + CHUNK_DEVICES]
        found = [c for d in chunk for c in by_device[d]]
        days = await report_days(session, chunk, sorted({c.consumable_id for c in found}), now)
        silent = [
            c
            for c in found
            if is_silent(
                c.reported_at,
                now,
                reporting_cadence(days.get((c.device_id, c.consumable_id), [])),
            )
        ]
        if not silent:
            continue
        forecasts = await toner_forecasts(
            session, sorted({c.device_id for c in silent}), at_report=True
        )
        held = await cartridges_held(
            session, {(c.device_id, c.consumable_id): c.reported_at for c in silent}
        )
        for c in silent:
            device = forecasts.get(c.device_id)
            f = device.by_consumable.get(c.consumable_id) if device is not None else None
            if device is None or f is None:
                continue
            reported_on = device.reported_on[c.consumable_id]
            quantity = silent_order_quantity(
                order_days=f.order_days,
                order_cycle_days=f.order_cycle_days,
                reported_on=reported_on,
                today=device.today,
                at_threshold=c.percent <= c.threshold,
                lead_days=c.lead_days,
                safety_days=c.safety_days,
                in_hand=held.get((c.device_id, c.consumable_id), 0),
            )
            if quantity:
                days_left = projected_order_days(f.order_days, reported_on, device.today)
                wanted.append(SilentOrder(c, quantity, days_left))
    return wanted


async def order_for_silent_devices(
    session: AsyncSession, wanted: list[SilentOrder], now: datetime
) -> list[ReplenishmentOrder]:
    """Raises the orders wanted (those no report or other pass raised meanwhile), announced
    and audited, in the caller's transaction."""
    orders = await place_orders(
        session,
        [
            (
                w.candidate.device_id,
                w.candidate.stock_location_id,
                w.candidate.consumable_id,
                w.quantity,
            )
            for w in wanted
        ],
        now,
    )
    why = {(w.candidate.device_id, w.candidate.consumable_id): w for w in wanted}
    for order in orders:
        w = why[(order.device_id, order.consumable_id)]
        system_audit(
            session,
            AUDIT_ACTION,
            "ReplenishmentOrder",
            order.id,
            {
                "device_id": order.device_id,
                "consumable_id": order.consumable_id,
                "quantity": order.quantity,
                "last_report_at": w.candidate.reported_at.isoformat(),
                "projected_order_days": w.order_days,
            },
        )
    return orders


async def run_once(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """One pass: reads, then writes what is due; returns how many orders were raised."""
    async with sessionmaker() as session:
        now = clock.now()
        async with session.begin():
            wanted = await silent_orders_due(session, now)
        if not wanted:
            return 0
        await begin_writing(session)
        orders = await order_for_silent_devices(session, wanted, now)
        await session.commit()
        return len(orders)


class SilentReplenishmentTask(PeriodicJob):
    """The periodic task the app's lifespan starts (every `silent_replenishment_poll_seconds`,
    which must stay under a day: forecasting.replenishment.PASS_DAYS; safe with many workers:
    the unique index lets one order through)."""

    name = "silent-replenishment"
    poll_setting = "silent_replenishment_poll_seconds"

    async def run_once(self) -> None:
        raised = await run_once(self.sessionmaker)
        if raised:
            log.info("replenishment orders raised for silent devices: %s", raised)
