"""Just-in-time replenishment and `StockLocation.projectedDemand`: orders raised when the
forecast runs out within the location's lead time plus safety days, demand per consumable
against stock on hand, the location's planning days, and the permission of the stock levels."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import decode_id, global_id
from models import (
    Consumable,
    Device,
    ReplenishmentOrder,
    StockLevel,
    StockLocation,
    TonerLevel,
    TonerLevelReport,
)
from models.enums import ReplenishmentStatus, TonerLevelState
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.stock.conftest import supplied_device
from tests.stock.test_report_toner_levels import QUERY_REPORT, _black_toner, _open_orders
from tests.stock.test_toner_forecast import QUERY_FORECAST, _plant_history

QUERY_DEMAND = """
query Demand($id: ID!, $days: Int!) {
  node(id: $id) {
    ... on StockLocation {
      leadTimeDays safetyDays
      projectedDemand(days: $days) {
        consumable { id sku }
        cartridgesNeeded devicesInNeed devicesWithoutForecast onHand onOrder shortfall runsOutOn
      }
    }
  }
}
"""

QUERY_LOCATIONS_DEMAND = """
query Locations($first: Int!) {
  stockLocations(first: $first) {
    nodes { name projectedDemand(days: 90) { consumable { sku } cartridgesNeeded runsOutOn } }
  }
}
"""

MUTATION_UPDATE = """
mutation Update($input: UpdateStockLocationInput!) {
  updateStockLocation(input: $input) {
    stockLocation { leadTimeDays safetyDays }
    userErrors { field code }
  }
}
"""


async def _only_device_of_location(connection: AsyncConnection, device: object) -> None:
    """The location supplies only this device (the others move elsewhere for the test)."""
    await connection.execute(
        update(Device)
        .where(
            Device.stock_location_id == device.stock_location_id,  # type: ignore[attr-defined]
            Device.id != device.id,  # type: ignore[attr-defined]
        )
        .values(stock_location_id=None)
    )


@pytest.mark.dates
async def test_just_in_time_order_within_lead_time_and_safety_days(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given: 50 % left runs out in 70 days (see _plant_history), at the earliest on `low`; no
    # level reported before (no reporting cadence: only the reports below, all today)
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    today = await _plant_history(connection, device, toner)
    await connection.execute(
        delete(TonerLevelReport).where(TonerLevelReport.device_id == device.id)
    )
    forecast = await gql(
        QUERY_FORECAST, {"id": global_id("Device", device.id)}, as_user="agent@vendor.example"
    )
    [black] = [
        level["forecast"]
        for level in forecast.data["node"]["tonerLevels"]
        if level["consumable"]["id"] == global_id("Consumable", toner.id)
    ]
    earliest = (date.fromisoformat(black["low"]) - today).days
    assert 0 < earliest < 70
    location = StockLocation.id == device.stock_location_id
    await connection.execute(
        update(StockLocation).where(location).values(lead_time_days=earliest - 4, safety_days=3)
    )
    report = {
        "input": {
            "deviceId": global_id("Device", device.id),
            "levels": [{"colour": "BLACK", "percent": 50}],
        }
    }
    # when: one day short of the earliest day it may run out, then just enough
    early = await gql(QUERY_REPORT, report, token=emaintenance_token)
    await connection.execute(update(StockLocation).where(location).values(safety_days=4))
    due = await gql(QUERY_REPORT, report, token=emaintenance_token)
    again = await gql(QUERY_REPORT, report, token=emaintenance_token)
    # then
    assert early.data["reportTonerLevels"]["replenishmentOrders"] == []
    [order] = due.data["reportTonerLevels"]["replenishmentOrders"]
    assert order["consumable"]["id"] == global_id("Consumable", toner.id)
    assert again.data["reportTonerLevels"]["replenishmentOrders"] == []
    assert await _open_orders(connection, device.id, toner.id) == 1


async def _earliest_days(gql: GraphQLClient, device: Any, toner: Any, today: date) -> int:
    forecast = await gql(
        QUERY_FORECAST, {"id": global_id("Device", device.id)}, as_user="agent@vendor.example"
    )
    [black] = [
        level["forecast"]
        for level in forecast.data["node"]["tonerLevels"]
        if level["consumable"]["id"] == global_id("Consumable", toner.id)
    ]
    return (date.fromisoformat(black["low"]) - today).days


@pytest.mark.dates
@pytest.mark.parametrize("weekly", [False, True], ids=["no_history", "weekly_reports"])
async def test_just_in_time_window_counts_the_reporting_cadence(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str, weekly: bool
) -> None:
    # given: the earliest day 50 % may run out falls a week after lead time + safety days; the
    # device reported its level weekly before (its next report may come a week later) or never
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    today = await _plant_history(connection, device, toner)
    await connection.execute(
        delete(TonerLevelReport).where(TonerLevelReport.device_id == device.id)
    )
    if weekly:
        await connection.execute(
            insert(TonerLevelReport),
            [
                {
                    "device_id": device.id,
                    "consumable_id": toner.id,
                    "percent": 50 + 3 * k,
                    "state": TonerLevelState.MEASURED,
                    "reported_at": clock.now() - timedelta(days=7 * k),
                }
                for k in range(1, 4)
            ],
        )
    earliest = await _earliest_days(gql, device, toner, today)
    assert 10 < earliest < 70
    await connection.execute(
        update(StockLocation)
        .where(StockLocation.id == device.stock_location_id)
        .values(lead_time_days=earliest - 7 - 3, safety_days=3)
    )
    # when
    result = await gql(
        QUERY_REPORT,
        {
            "input": {
                "deviceId": global_id("Device", device.id),
                "levels": [{"colour": "BLACK", "percent": 50}],
            }
        },
        token=emaintenance_token,
    )
    # then: ordered now only when the next report may come too late
    orders = result.data["reportTonerLevels"]["replenishmentOrders"]
    assert [o["quantity"] for o in orders] == ([1] if weekly else [])
    assert await _open_orders(connection, device.id, toner.id) == (1 if weekly else 0)


async def _set_status(connection: AsyncConnection, order_id: str, status: str) -> None:
    await connection.execute(
        update(ReplenishmentOrder)
        .where(ReplenishmentOrder.id == decode_id(order_id, "ReplenishmentOrder"))
        .values(status=ReplenishmentStatus(status))
    )


@pytest.mark.dates
async def test_cartridge_shorter_than_lead_time_orders_the_next_ones_at_replacement(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given: 530 pages a week and a 1,060-page toner (a full cartridge lasts about two weeks),
    # a 30-day lead time; the cartridge in the device is at 60 %, nothing ordered
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    await _plant_history(connection, device, toner)
    await connection.execute(
        delete(TonerLevelReport).where(TonerLevelReport.device_id == device.id)
    )
    await connection.execute(
        delete(ReplenishmentOrder).where(ReplenishmentOrder.device_id == device.id)
    )
    await connection.execute(
        update(Consumable).where(Consumable.id == toner.id).values(rated_yield_pages=1_060)
    )
    await connection.execute(
        update(StockLocation)
        .where(StockLocation.id == device.stock_location_id)
        .values(lead_time_days=30, safety_days=3)
    )

    async def report(percent: int) -> list[dict[str, Any]]:
        result = await gql(
            QUERY_REPORT,
            {
                "input": {
                    "deviceId": global_id("Device", device.id),
                    "levels": [{"colour": "BLACK", "percent": percent}],
                }
            },
            token=emaintenance_token,
        )
        assert result.data["reportTonerLevels"]["userErrors"] == []
        return result.data["reportTonerLevels"]["replenishmentOrders"]  # type: ignore[no-any-return]

    # when: the cartridge is replaced (a level that jumps up), and reported full again
    await connection.execute(
        update(TonerLevel)
        .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
        .values(percent=4)
    )
    at_replacement = await report(100)
    again = await report(99)
    # then: one order, at once, for every cartridge the device will start before an order
    # raised after this one could arrive (a cartridge lasts under the lead time)
    [order] = at_replacement
    assert order["consumable"]["id"] == global_id("Consumable", toner.id)
    assert 2 * 30 / 14 <= order["quantity"] <= 2 * 30 + 3
    assert again == []
    assert await _open_orders(connection, device.id, toner.id) == 1
    # when: delivered, its cartridges are in hand until fitted: nothing more is ordered
    await _set_status(connection, order["id"], "DELIVERED")
    delivered = await report(98)
    # then
    assert delivered == []
    assert await _open_orders(connection, device.id, toner.id) == 0
    # when: a cancelled order holds nothing
    await _set_status(connection, order["id"], "CANCELLED")
    cancelled = await report(97)
    # then
    [reordered] = cancelled
    assert reordered["quantity"] == order["quantity"]


@pytest.mark.dates
async def test_projected_demand_against_stock(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: one device, black toner empty in 70 days, then a cartridge every 140 days
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    today = await _plant_history(connection, device, toner)
    await _only_device_of_location(connection, device)
    await connection.execute(
        delete(StockLevel).where(StockLevel.stock_location_id == device.stock_location_id)
    )
    await connection.execute(
        StockLevel.__table__.insert().values(
            stock_location_id=device.stock_location_id, consumable_id=toner.id, quantity=1
        )
    )
    variables = {"id": global_id("StockLocation", device.stock_location_id)}
    # when
    short = await gql(QUERY_DEMAND, {**variables, "days": 69}, as_user="agent@vendor.example")
    year = await gql(QUERY_DEMAND, {**variables, "days": 250}, as_user="agent@vendor.example")
    # then
    demand = {d["consumable"]["id"]: d for d in short.data["node"]["projectedDemand"]}
    black = demand[global_id("Consumable", toner.id)]
    assert black["cartridgesNeeded"] == 0 and black["runsOutOn"] is None
    demand = {d["consumable"]["id"]: d for d in year.data["node"]["projectedDemand"]}
    black = demand[global_id("Consumable", toner.id)]
    assert (black["cartridgesNeeded"], black["devicesInNeed"], black["onHand"]) == (2, 1, 1)
    assert black["shortfall"] == max(0, 2 - 1 - black["onOrder"])
    # the second cartridge (day 70 + 140) finds the shelf empty
    assert black["runsOutOn"] == (today + timedelta(days=210)).isoformat()


async def test_projected_demand_is_batched_and_bounded(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql(QUERY_LOCATIONS_DEMAND, {"first": 1}, as_user="agent@vendor.example")
    # when
    small, few = await statements.of(
        gql(QUERY_LOCATIONS_DEMAND, {"first": 2}, as_user="agent@vendor.example")
    )
    large, many = await statements.of(
        gql(QUERY_LOCATIONS_DEMAND, {"first": 20}, as_user="agent@vendor.example")
    )
    out_of_range = await gql(
        QUERY_LOCATIONS_DEMAND.replace("days: 90", "days: 0"),
        {"first": 1},
        as_user="agent@vendor.example",
    )
    # then
    assert len(small.data["stockLocations"]["nodes"]) == 2
    assert len(large.data["stockLocations"]["nodes"]) > 2
    assert any(
        d["cartridgesNeeded"]
        for n in large.data["stockLocations"]["nodes"]
        for d in n["projectedDemand"]
    )
    assert few == many, statements.statements
    assert out_of_range.error_codes == ["BAD_USER_INPUT"]


async def test_projected_demand_requires_permission(
    gql: GraphQLClient, analytics_token: str
) -> None:
    # given: an analytics client sees every stock location, but holds no stock permission
    query = "{ stockLocations(first: 5) { nodes { name projectedDemand(days: 30) { onHand } } } }"
    # when
    result = await gql(query, token=analytics_token)
    listed = await gql("{ stockLocations(first: 5) { nodes { name } } }", token=analytics_token)
    # then: the field is not in its schema; the locations are
    assert result.error_codes == NOT_IN_SCHEMA
    assert result.data is None
    assert listed.data["stockLocations"]["nodes"]


async def test_update_planning_days(gql: GraphQLClient, connection: AsyncConnection) -> None:
    # given
    location_id = await connection.scalar(select(func.min(StockLocation.id)))
    gid = global_id("StockLocation", location_id)
    # when
    good = await gql(
        MUTATION_UPDATE,
        {"input": {"id": gid, "leadTimeDays": 10, "safetyDays": 4}},
        as_user="agent@vendor.example",
    )
    bad = await gql(
        MUTATION_UPDATE,
        {"input": {"id": gid, "leadTimeDays": 366}},
        as_user="agent@vendor.example",
    )
    # then
    payload = good.data["updateStockLocation"]
    assert payload["userErrors"] == []
    assert payload["stockLocation"] == {"leadTimeDays": 10, "safetyDays": 4}
    assert bad.data["updateStockLocation"]["userErrors"] == [
        {"field": ["leadTimeDays"], "code": "DAYS_OUT_OF_RANGE"}
    ]
    stored = await connection.scalar(
        select(StockLocation.lead_time_days).where(StockLocation.id == location_id)
    )
    assert stored == 10
