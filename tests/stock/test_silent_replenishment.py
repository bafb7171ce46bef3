"""The silent-device pass: a device whose toner reports stopped gets its order when the forecast
made at its last report, counted down since, enters lead time + safety days (+ the pass's next
day); a device still reporting on cadence, or with an order open, gets none; concurrent passes
raise one order; the order is read through the API like any other, and audited."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core import clock
from core.ids import global_id
from forecasting.replenishment import PASS_DAYS
from models import (
    AuditLogEntry,
    CartridgeReplacement,
    Consumable,
    MeterReading,
    ReplenishmentOrder,
    Site,
    StockLocation,
    TonerLevel,
    TonerLevelReport,
    WebhookDelivery,
)
from models.enums import MeterType, ReadingSource, ReplenishmentStatus, TonerLevelState
from models.session import create_sessionmaker
from resolvers.silent_replenishment import (
    AUDIT_ACTION,
    SilentReplenishmentTask,
    run_once,
    silent_orders_due,
)
from settings import Settings
from tests.conftest import StatementCounter
from tests.graphql import GraphQLClient
from tests.periodic import first_pass
from tests.stock.conftest import supplied_device
from tests.stock.test_report_toner_levels import _black_toner, _open_orders

AGENT = "agent@vendor.example"

QUERY_FORECAST_LOW = """
query Forecast($id: ID!) {
  node(id: $id) {
    ... on Device { tonerLevels { consumable { id } forecast { reason low } } }
  }
}
"""

QUERY_LOCATION_ORDERS = """
query Orders($id: ID!) {
  node(id: $id) {
    ... on StockLocation {
      replenishmentOrders(first: 10, statuses: [PENDING]) {
        nodes { id status quantity device { id } consumable { id } }
      }
    }
  }
}
"""

WEEKLY_PAGES = 530
RATED_YIELD = 10_600


async def plant_silent_history(
    connection: AsyncConnection,
    device: Any,
    toner: Any,
    *,
    percent: int,
    reported_at: datetime,
    lead_days: int,
    safety_days: int,
) -> str:
    """The device's black toner reported weekly up to `reported_at` (the last at `percent`),
    its black meter read weekly (530 pages) up to that day, a 10,600-page rated yield, no past
    cartridge and nothing on order; the stock location's lead time and safety days. Returns
    the site's time zone."""
    zone = await connection.scalar(select(Site.time_zone).where(Site.id == device.site_id))
    assert zone is not None
    level_on = clock.today_in(zone, reported_at)
    for model in (MeterReading, CartridgeReplacement, TonerLevelReport, ReplenishmentOrder):
        await connection.execute(delete(model).where(model.device_id == device.id))
    await connection.execute(
        insert(MeterReading),
        [
            {
                "device_id": device.id,
                "meter": MeterType.BLACK,
                "reading_date": level_on - timedelta(days=7 * k),
                "value": 100_000 - WEEKLY_PAGES * k,
                "source": ReadingSource.REMOTE,
            }
            for k in range(9)
        ],
    )
    await connection.execute(
        insert(TonerLevelReport),
        [
            {
                "device_id": device.id,
                "consumable_id": toner.id,
                "percent": percent + 6 * k,
                "state": TonerLevelState.MEASURED,
                "reported_at": reported_at - timedelta(days=7 * k),
            }
            for k in range(5)
        ],
    )
    await connection.execute(
        update(Consumable).where(Consumable.id == toner.id).values(rated_yield_pages=RATED_YIELD)
    )
    await connection.execute(
        update(TonerLevel)
        .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
        .values(percent=percent, state=TonerLevelState.MEASURED, reported_at=reported_at)
    )
    await connection.execute(
        update(StockLocation)
        .where(StockLocation.id == device.stock_location_id)
        .values(lead_time_days=lead_days, safety_days=safety_days)
    )
    return zone


async def silent_due_toner(
    connection: AsyncConnection, *, lead_days: int = 60, safety_days: int = 30
) -> tuple[Any, Any]:
    """A supplied device whose black toner (40 %) last reported 20 days ago: with the default
    location (ordering months ahead) its need is due now."""
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    await plant_silent_history(
        connection,
        device,
        toner,
        percent=40,
        reported_at=clock.now() - timedelta(days=20),
        lead_days=lead_days,
        safety_days=safety_days,
    )
    return device, toner


def noon(day: Any, zone: str) -> datetime:
    """Midday of a site's day (the pass's instant in these tests)."""
    return datetime.combine(day, time(12), ZoneInfo(zone))


def pass_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions on the test's connection (and its rolled-back transaction), as the app's."""
    return create_sessionmaker(connection, join_transaction_mode="create_savepoint")


async def forecast_low(gql: GraphQLClient, device_id: int, toner_id: int) -> Any:
    """The early end of the toner's forecast, as the API shows it (the day orders count from)."""
    result = await gql(QUERY_FORECAST_LOW, {"id": global_id("Device", device_id)}, as_user=AGENT)
    levels = {lvl["consumable"]["id"]: lvl for lvl in result.data["node"]["tonerLevels"]}
    forecast = levels[global_id("Consumable", toner_id)]["forecast"]
    assert forecast["reason"] is None, forecast
    return datetime.fromisoformat(forecast["low"]).date()


@pytest.mark.dates
async def test_a_silent_device_is_ordered_for_when_its_projection_enters_the_window(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a weekly reporter whose last report (now) is at 40 %: the forecast's early end
    # (as the API shows it that day) is weeks away; then it goes silent
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    zone = await plant_silent_history(
        connection, device, toner, percent=40, reported_at=clock.now(), lead_days=5, safety_days=3
    )
    low = await forecast_low(gql, device.id, toner.id)
    window = 5 + 3 + PASS_DAYS
    assert (low - clock.today_in(zone)).days > window + 7  # nothing due while on cadence
    sessions = pass_sessionmaker(connection)
    # when: the pass runs the day before the early end is within the window, then that day
    with time_machine.travel(noon(low - timedelta(days=window + 1), zone), tick=True):
        await run_once(sessions)  # (the rest of the demo fleet is silent by then too)
        open_before = await _open_orders(connection, device.id, toner.id)
    with time_machine.travel(noon(low - timedelta(days=window), zone), tick=True):
        raised = await run_once(sessions)
        again = await run_once(sessions)
        # then: the order is listed with the location's orders, like a reported one
        listed = await gql(
            QUERY_LOCATION_ORDERS,
            {"id": global_id("StockLocation", device.stock_location_id)},
            as_user=AGENT,
        )
    assert open_before == 0
    assert raised >= 1 and again == 0
    assert await _open_orders(connection, device.id, toner.id) == 1
    order = (
        await connection.execute(
            select(ReplenishmentOrder).where(
                ReplenishmentOrder.device_id == device.id,
                ReplenishmentOrder.consumable_id == toner.id,
            )
        )
    ).one()
    assert order.quantity == 1 and order.status is ReplenishmentStatus.PENDING
    assert order.stock_location_id == device.stock_location_id
    nodes = listed.data["node"]["replenishmentOrders"]["nodes"]
    [seen] = [n for n in nodes if n["id"] == global_id("ReplenishmentOrder", order.id)]
    assert seen["device"]["id"] == global_id("Device", device.id)
    assert seen["consumable"]["id"] == global_id("Consumable", toner.id)
    assert seen["status"] == "PENDING" and seen["quantity"] == 1
    # audited, by no one (the system), with what it was decided on
    entry = (
        await connection.execute(
            select(AuditLogEntry).where(
                AuditLogEntry.action == AUDIT_ACTION, AuditLogEntry.object_id == order.id
            )
        )
    ).one()
    assert entry.object_type == "ReplenishmentOrder"
    assert entry.actor_user_id is None and entry.actor_client_id is None
    assert entry.details["device_id"] == device.id
    assert entry.details["projected_order_days"] == window


@pytest.mark.dates
async def test_a_device_reporting_on_cadence_gets_nothing_from_the_pass(
    connection: AsyncConnection,
) -> None:
    # given: a weekly reporter whose need is within the window (a long lead time), reported
    # now; its next report is due in a week
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    zone = await plant_silent_history(
        connection,
        device,
        toner,
        percent=40,
        reported_at=clock.now(),
        lead_days=60,
        safety_days=30,
    )
    sessions = pass_sessionmaker(connection)
    today = clock.today_in(zone)
    # when: the pass runs six days on (the report is not late), then eight days on (it is)
    with time_machine.travel(noon(today + timedelta(days=6), zone), tick=True):
        on_cadence = await _open_orders(connection, device.id, toner.id)
        await run_once(sessions)
        after_on_cadence = await _open_orders(connection, device.id, toner.id)
    with time_machine.travel(noon(today + timedelta(days=8), zone), tick=True):
        await run_once(sessions)
    # then
    assert on_cadence == after_on_cadence == 0
    assert await _open_orders(connection, device.id, toner.id) == 1


@pytest.mark.dates
async def test_a_silent_device_with_an_open_order_gets_no_second(
    connection: AsyncConnection,
) -> None:
    # given: a silent device whose need is due, with an order already open
    device, toner = await silent_due_toner(connection)
    await connection.execute(
        insert(ReplenishmentOrder).values(
            stock_location_id=device.stock_location_id,
            device_id=device.id,
            consumable_id=toner.id,
            quantity=1,
            status=ReplenishmentStatus.SHIPPED,
        )
    )
    # when
    await run_once(pass_sessionmaker(connection))
    # then
    assert await _open_orders(connection, device.id, toner.id) == 1
    count = select(func.count()).select_from(ReplenishmentOrder)
    assert await connection.scalar(count.where(ReplenishmentOrder.device_id == device.id)) == 1


async def test_the_periodic_task_orders_for_silent_devices(
    connection: AsyncConnection, settings: Settings
) -> None:
    # given: a silent device whose toner is due, and the task the app's lifespan starts
    device, toner = await silent_due_toner(connection)
    task = SilentReplenishmentTask(pass_sessionmaker(connection), settings)
    # when: its first pass runs at once
    await first_pass(task)
    # then
    assert await _open_orders(connection, device.id, toner.id) == 1


async def test_the_pass_costs_the_same_statements_for_one_silent_device_or_many(
    connection: AsyncConnection, statements: StatementCounter
) -> None:
    # given: one silent device, then every measured toner silent for 20 days and every
    # location ordering a year ahead
    await silent_due_toner(connection, lead_days=5, safety_days=3)
    sessions = pass_sessionmaker(connection)

    async def due() -> int:
        async with sessions() as session, session.begin():
            return len(await silent_orders_due(session, clock.now()))

    few_due, few = await statements.of(due())
    await connection.execute(
        update(TonerLevel)
        .where(TonerLevel.state == TonerLevelState.MEASURED)
        .values(reported_at=clock.now() - timedelta(days=20))
    )
    await connection.execute(update(StockLocation).values(lead_time_days=365, safety_days=365))
    many_due, many = await statements.of(due())
    # then: candidates, report days, the forecasts' four, the ledger's (at most) two
    assert many_due > few_due
    assert few == many <= 8, statements.statements


@pytest.mark.parametrize("passes", [2, 4])
async def test_concurrent_passes_raise_one_order(engine: AsyncEngine, passes: int) -> None:
    # given: on real, separate connections (not the test's rolled-back transaction), a toner
    # silent for 20 days at its threshold, every silent toner of its location due
    async with engine.connect() as conn:
        device = await supplied_device(conn)
        toner = await _black_toner(conn, device)
        level = (
            await conn.execute(
                select(TonerLevel.percent, TonerLevel.state, TonerLevel.reported_at).where(
                    TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id
                )
            )
        ).one()
        location = (
            await conn.execute(
                select(StockLocation.lead_time_days, StockLocation.safety_days).where(
                    StockLocation.id == device.stock_location_id
                )
            )
        ).one()
        last_order = await conn.scalar(select(func.max(ReplenishmentOrder.id))) or 0
        last_audit = await conn.scalar(select(func.max(AuditLogEntry.id))) or 0
        last_delivery = await conn.scalar(select(func.max(WebhookDelivery.id))) or 0
    assert await _open_orders_on(engine, device.id, toner.id) == 0
    async with engine.begin() as conn:
        await conn.execute(
            update(TonerLevel)
            .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
            .values(
                percent=3,
                state=TonerLevelState.MEASURED,
                reported_at=clock.now() - timedelta(days=20),
            )
        )
        await conn.execute(
            update(StockLocation)
            .where(StockLocation.id == device.stock_location_id)
            .values(lead_time_days=365, safety_days=365)
        )
    sessions = create_sessionmaker(engine)
    try:
        # when
        raised = await asyncio.gather(*[run_once(sessions) for _ in range(passes)])
        # then: one order for the toner, and no order raised twice anywhere
        assert await _open_orders_on(engine, device.id, toner.id) == 1
        async with engine.connect() as conn:
            created = (
                await conn.execute(
                    select(ReplenishmentOrder.device_id, ReplenishmentOrder.consumable_id).where(
                        ReplenishmentOrder.id > last_order
                    )
                )
            ).all()
            audited = await conn.scalar(
                select(func.count())
                .select_from(AuditLogEntry)
                .where(AuditLogEntry.id > last_audit, AuditLogEntry.action == AUDIT_ACTION)
            )
        assert sum(raised) == len(created) == len(set(created)) == audited
    finally:
        async with engine.begin() as conn:
            await conn.execute(delete(WebhookDelivery).where(WebhookDelivery.id > last_delivery))
            await conn.execute(delete(AuditLogEntry).where(AuditLogEntry.id > last_audit))
            await conn.execute(delete(ReplenishmentOrder).where(ReplenishmentOrder.id > last_order))
            await conn.execute(
                update(TonerLevel)
                .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
                .values(percent=level.percent, state=level.state, reported_at=level.reported_at)
            )
            await conn.execute(
                update(StockLocation)
                .where(StockLocation.id == device.stock_location_id)
                .values(lead_time_days=location.lead_time_days, safety_days=location.safety_days)
            )


async def _open_orders_on(engine: AsyncEngine, device_id: int, consumable_id: int) -> int:
    async with engine.connect() as conn:
        return await _open_orders(conn, device_id, consumable_id)
