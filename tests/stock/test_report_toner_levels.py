"""`reportTonerLevels` from the e-Maintenance client: levels stored, a low level orders toner for
the device's stock location, at most one open order per device and consumable."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app import create_app
from core.ids import global_id
from demo.fleet import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from models import (
    ApiClient,
    AuditLogEntry,
    CartridgeReplacement,
    Consumable,
    Device,
    ReplenishmentOrder,
    StockLocation,
    TonerLevel,
    TonerLevelReport,
    product_model_consumables,
)
from models.enums import ConsumableKind, ReplenishmentStatus, TonerColour
from models.session import create_sessionmaker
from settings import Settings
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.stock.conftest import client_token, supplied_device

QUERY_REPORT = """
mutation Report($input: ReportTonerLevelsInput!) {
  reportTonerLevels(input: $input) {
    tonerLevels { consumable { id colour } percent low reportedAt }
    replenishmentOrders { id status quantity consumable { id } }
    userErrors { field code message }
  }
}
"""

QUERY_DEVICE_TONER = """
query Device($id: ID!) {
  node(id: $id) { ... on Device { tonerLevels { consumable { id } percent low } } }
}
"""


async def _black_toner(connection: AsyncConnection, device: Any) -> Any:
    return (
        await connection.execute(
            select(Consumable)
            .join(
                product_model_consumables,
                product_model_consumables.c.consumable_id == Consumable.id,
            )
            .where(
                product_model_consumables.c.product_model_id == device.product_model_id,
                Consumable.kind == ConsumableKind.TONER,
                Consumable.colour == TonerColour.BLACK,
            )
        )
    ).one()


async def _open_orders(connection: AsyncConnection, device_id: int, consumable_id: int) -> int:
    return int(
        await connection.scalar(
            select(func.count())
            .select_from(ReplenishmentOrder)
            .where(
                ReplenishmentOrder.device_id == device_id,
                ReplenishmentOrder.consumable_id == consumable_id,
                ReplenishmentOrder.status.in_(
                    [ReplenishmentStatus.PENDING, ReplenishmentStatus.SHIPPED]
                ),
            )
        )
        or 0
    )


def _report(device_id: int, **level: Any) -> dict[str, Any]:
    return {"input": {"deviceId": global_id("Device", device_id), "levels": [level]}}


async def test_low_level_orders_toner_once(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given: a location that needs no notice (no lead time, no safety days) and a device with
    # no reporting cadence yet: the threshold alone orders, one cartridge
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    assert await _open_orders(connection, device.id, toner.id) == 0
    await connection.execute(
        update(StockLocation)
        .where(StockLocation.id == device.stock_location_id)
        .values(lead_time_days=0, safety_days=0)
    )
    await connection.execute(
        delete(TonerLevelReport).where(TonerLevelReport.device_id == device.id)
    )
    # when
    first = await gql(
        QUERY_REPORT, _report(device.id, colour="BLACK", percent=4), token=emaintenance_token
    )
    again = await gql(
        QUERY_REPORT,
        _report(device.id, consumableId=global_id("Consumable", toner.id), percent=2),
        token=emaintenance_token,
    )
    # then
    payload = first.data["reportTonerLevels"]
    assert payload["userErrors"] == []
    assert payload["tonerLevels"][0]["percent"] == 4 and payload["tonerLevels"][0]["low"]
    [order] = payload["replenishmentOrders"]
    assert order["status"] == "PENDING" and order["quantity"] == 1
    assert order["consumable"]["id"] == global_id("Consumable", toner.id)
    assert again.data["reportTonerLevels"]["replenishmentOrders"] == []
    assert await _open_orders(connection, device.id, toner.id) == 1
    stored = await connection.scalar(
        select(ReplenishmentOrder.stock_location_id).where(
            ReplenishmentOrder.device_id == device.id
        )
    )
    assert stored == device.stock_location_id
    seen = await gql(
        QUERY_DEVICE_TONER, {"id": global_id("Device", device.id)}, as_user="agent@vendor.example"
    )
    levels = {lvl["consumable"]["id"]: lvl for lvl in seen.data["node"]["tonerLevels"]}
    assert levels[global_id("Consumable", toner.id)]["percent"] == 2


async def test_level_above_threshold_orders_nothing(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given: a location that needs no notice (no lead time, no safety days), a device with no
    # reporting cadence yet (its next report is not taken to be late)
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    await connection.execute(
        update(StockLocation)
        .where(StockLocation.id == device.stock_location_id)
        .values(lead_time_days=0, safety_days=0)
    )
    await connection.execute(
        delete(TonerLevelReport).where(TonerLevelReport.device_id == device.id)
    )
    # when
    result = await gql(
        QUERY_REPORT,
        _report(device.id, colour="BLACK", percent=toner.reorder_threshold_percent + 1),
        token=emaintenance_token,
    )
    # then
    payload = result.data["reportTonerLevels"]
    assert payload["userErrors"] == [] and payload["replenishmentOrders"] == []
    assert not payload["tonerLevels"][0]["low"]
    assert await _open_orders(connection, device.id, toner.id) == 0


async def test_bad_reports_store_nothing(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    before = await connection.scalar(
        select(TonerLevel.percent).where(
            TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id
        )
    )
    office = await connection.scalar(
        select(Device.id).where(Device.e_maintenance.is_(False)).limit(1)
    )
    foreign = await connection.scalar(
        select(Consumable.id)
        .where(
            Consumable.id.not_in(
                select(product_model_consumables.c.consumable_id).where(
                    product_model_consumables.c.product_model_id == device.product_model_id
                )
            )
        )
        .limit(1)
    )
    cases = [
        (_report(office, colour="BLACK", percent=1), "DEVICE_NOT_ON_E_MAINTENANCE"),
        (_report(device.id, colour="BLACK", percent=101), "PERCENT_OUT_OF_RANGE"),
        (_report(device.id, percent=1), "TONER_LEVEL_NEEDS_ONE_KEY"),
        (
            _report(device.id, consumableId=global_id("Consumable", foreign), percent=1),
            "CONSUMABLE_NOT_FOR_DEVICE",
        ),
        (_report(999999, colour="BLACK", percent=1), "NOT_FOUND"),
    ]
    for variables, code in cases:
        # when
        result = await gql(QUERY_REPORT, variables, token=emaintenance_token)
        # then
        assert result.data["reportTonerLevels"]["userErrors"][0]["code"] == code, variables
    after = await connection.scalar(
        select(TonerLevel.percent).where(
            TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id
        )
    )
    assert after == before
    assert await _open_orders(connection, device.id, toner.id) == 0


async def test_report_toner_levels_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection, analytics_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    variables = _report(device.id, colour="BLACK", percent=1)
    toner = await _black_toner(connection, device)
    level = select(TonerLevel.percent).where(
        TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id
    )
    before = await connection.scalar(level)
    # when
    as_admin = await gql(QUERY_REPORT, variables, as_user="admin@acme.example")
    as_agent = await gql(QUERY_REPORT, variables, as_user="agent@vendor.example")
    as_analytics = await gql(QUERY_REPORT, variables, token=analytics_token)
    anonymous = await gql(QUERY_REPORT, variables)
    # then: only the e-Maintenance scope reports toner levels: neither the mutation nor its
    # input type is in anyone else's schema; anonymous callers are told to sign in
    for caller, result in (("admin", as_admin), ("agent", as_agent), ("analytics", as_analytics)):
        assert result.data is None, caller
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (caller, result.errors)
    for user in ("admin@acme.example", "agent@vendor.example"):
        assert "reportTonerLevels" not in fields_of(user, "Mutation"), user
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]
    assert await connection.scalar(level) == before != 1
    assert await _open_orders(connection, device.id, toner.id) == 0


@pytest.mark.parametrize(
    ("percent", "planning_days", "level_before"),
    [
        (3, None, None),  # at or under the threshold
        # above it, but forecast to run out within lead time + safety days
        (60, (365, 365), None),
        # a new cartridge that will not last the lead time: the next ones ordered at once
        (100, (365, 365), 4),
    ],
    ids=["threshold", "just_in_time", "replacement"],
)
async def test_concurrent_reports_create_one_order(
    engine: AsyncEngine,
    settings: Settings,
    percent: int,
    planning_days: tuple[int, int] | None,
    level_before: int | None,
) -> None:
    # given: an app on real, separate connections (not the test's rolled-back transaction)
    async with engine.connect() as conn:
        device = await supplied_device(conn)
        toner = await _black_toner(conn, device)
        level_before = await conn.scalar(
            select(TonerLevel.percent).where(
                TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id
            )
        )
        last_audit = await conn.scalar(select(func.max(AuditLogEntry.id))) or 0
        last_report = await conn.scalar(select(func.max(TonerLevelReport.id))) or 0
        client_pk = await conn.scalar(
            select(ApiClient.id).where(ApiClient.client_id == DEMO_CLIENT_ID)
        )
        location = (
            await conn.execute(
                select(StockLocation.lead_time_days, StockLocation.safety_days).where(
                    StockLocation.id == device.stock_location_id
                )
            )
        ).one()
        last_replacement = await conn.scalar(select(func.max(CartridgeReplacement.id))) or 0
    if level_before is not None:
        async with engine.begin() as conn:
            await conn.execute(
                update(TonerLevel)
                .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
                .values(percent=level_before)
            )
    if planning_days is not None:
        async with engine.begin() as conn:
            await conn.execute(
                update(StockLocation)
                .where(StockLocation.id == device.stock_location_id)
                .values(lead_time_days=planning_days[0], safety_days=planning_days[1])
            )
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            gql = GraphQLClient(http)
            token = await client_token(gql, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
            # when
            results = await asyncio.gather(
                *[
                    gql(
                        QUERY_REPORT,
                        _report(device.id, colour="BLACK", percent=percent),
                        token=token,
                    )
                    for _ in range(12)
                ]
            )
        # then
        created = [
            order
            for result in results
            for order in result.data["reportTonerLevels"]["replenishmentOrders"]
        ]
        assert all(r.data["reportTonerLevels"]["userErrors"] == [] for r in results)
        assert len(created) == 1 and created[0]["quantity"] >= 1
        if level_before is not None:
            assert created[0]["quantity"] > 1
        async with engine.connect() as conn:
            assert await _open_orders(conn, device.id, toner.id) == 1
    finally:
        async with engine.begin() as conn:
            await conn.execute(
                delete(ReplenishmentOrder).where(
                    ReplenishmentOrder.device_id == device.id,
                    ReplenishmentOrder.consumable_id == toner.id,
                )
            )
            await conn.execute(
                update(TonerLevel)
                .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
                .values(percent=level_before)
            )
            await conn.execute(
                delete(AuditLogEntry).where(
                    AuditLogEntry.id > last_audit, AuditLogEntry.actor_client_id == client_pk
                )
            )
            await conn.execute(delete(TonerLevelReport).where(TonerLevelReport.id > last_report))
            await conn.execute(
                delete(CartridgeReplacement).where(CartridgeReplacement.id > last_replacement)
            )
            await conn.execute(
                update(StockLocation)
                .where(StockLocation.id == device.stock_location_id)
                .values(lead_time_days=location.lead_time_days, safety_days=location.safety_days)
            )
