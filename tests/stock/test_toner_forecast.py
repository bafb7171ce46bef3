"""`TonerLevel.forecast` through the API: figures from the device's readings and the
consumable's yield, a reason when there are none, one batch of statements per page, and the
permission of the levels themselves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import global_id
from models import CartridgeReplacement, Consumable, MeterReading, Site, TonerLevel
from models.enums import MeterType, ReadingSource, TonerLevelState
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.stock.conftest import supplied_device
from tests.stock.test_report_toner_levels import QUERY_REPORT, _black_toner

QUERY_FORECAST = """
query Forecast($id: ID!) {
  node(id: $id) {
    ... on Device {
      tonerLevels {
        consumable { id ratedYieldPages }
        percent state
        forecast {
          reason pagesPerDay pagesLeft effectiveYieldPages daysToEmpty emptyOn low high
          confidence method
        }
      }
    }
  }
}
"""

QUERY_FLEET_FORECASTS = """
query Fleet($first: Int!) {
  devices(first: $first, filter: {eMaintenance: true}) {
    nodes { serialNumber tonerLevels { percent forecast { reason daysToEmpty emptyOn } } }
  }
}
"""


async def _plant_history(connection: AsyncConnection, device: Any, toner: Any) -> Any:
    """Weekly black readings of 530 pages for eight weeks up to today (site time), a 10,600-page
    rated yield, no past cartridge and a level of 50 %: 5,300 pages, ten weeks."""
    zone = await connection.scalar(select(Site.time_zone).where(Site.id == device.site_id))
    today = clock.today_in(zone)
    await connection.execute(delete(MeterReading).where(MeterReading.device_id == device.id))
    await connection.execute(
        delete(CartridgeReplacement).where(CartridgeReplacement.device_id == device.id)
    )
    await connection.execute(
        insert(MeterReading),
        [
            {
                "device_id": device.id,
                "meter": MeterType.BLACK,
                "reading_date": today - timedelta(days=7 * k),
                "value": 100_000 - 530 * k,
                "source": ReadingSource.REMOTE,
            }
            for k in range(9)
        ],
    )
    await connection.execute(
        update(Consumable).where(Consumable.id == toner.id).values(rated_yield_pages=10_600)
    )
    await connection.execute(
        update(TonerLevel)
        .where(TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id)
        .values(percent=50, state=TonerLevelState.MEASURED, reported_at=clock.now())
    )
    return today


@pytest.mark.dates
async def test_forecast_from_readings_and_rated_yield(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    today = await _plant_history(connection, device, toner)
    # when
    result = await gql(
        QUERY_FORECAST, {"id": global_id("Device", device.id)}, as_user="agent@vendor.example"
    )
    # then
    levels = {lvl["consumable"]["id"]: lvl for lvl in result.data["node"]["tonerLevels"]}
    forecast = levels[global_id("Consumable", toner.id)]["forecast"]
    assert forecast["reason"] is None
    assert forecast["pagesPerDay"] == round(530 / 7, 1)
    assert forecast["pagesLeft"] == 5_300 and forecast["effectiveYieldPages"] == 10_600
    assert forecast["daysToEmpty"] == 70
    assert forecast["emptyOn"] == (today + timedelta(days=70)).isoformat()
    assert forecast["low"] < forecast["emptyOn"] < forecast["high"]
    assert 0 < forecast["confidence"] < 1 and forecast["method"] == "RATED_YIELD"


async def test_no_forecast_says_why(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given: the device cannot measure its black toner
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    await gql(
        QUERY_REPORT,
        {
            "input": {
                "deviceId": global_id("Device", device.id),
                "levels": [{"colour": "BLACK", "state": "UNKNOWN"}],
            }
        },
        token=emaintenance_token,
    )
    # when
    result = await gql(
        QUERY_FORECAST, {"id": global_id("Device", device.id)}, as_user="agent@vendor.example"
    )
    # then
    levels = {lvl["consumable"]["id"]: lvl for lvl in result.data["node"]["tonerLevels"]}
    black = levels[global_id("Consumable", toner.id)]
    assert black["percent"] is None and black["state"] == "UNKNOWN"
    assert black["forecast"]["reason"] == "LEVEL_NOT_MEASURED"
    assert black["forecast"]["daysToEmpty"] is None and black["forecast"]["emptyOn"] is None


async def test_forecasts_cost_the_same_statements_whatever_the_page(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql(QUERY_FLEET_FORECASTS, {"first": 1}, as_user="agent@vendor.example")
    # when
    small, few = await statements.of(
        gql(QUERY_FLEET_FORECASTS, {"first": 3}, as_user="agent@vendor.example")
    )
    large, many = await statements.of(
        gql(QUERY_FLEET_FORECASTS, {"first": 60}, as_user="agent@vendor.example")
    )
    # then
    nodes = large.data["devices"]["nodes"]
    assert len(small.data["devices"]["nodes"]) == 3 and len(nodes) == 60
    forecasts = [lvl["forecast"] for node in nodes for lvl in node["tonerLevels"]]
    assert sum(1 for f in forecasts if f is not None and f["reason"] is None) > 30
    assert few == many, statements.statements


async def test_forecast_requires_permission(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    report = """
    mutation Report($input: ReportTonerLevelsInput!) {
      reportTonerLevels(input: $input) {
        tonerLevels { percent forecast { daysToEmpty } }
        userErrors { code }
      }
    }
    """
    # when: the e-Maintenance client reports levels but may not read them
    result = await gql(
        report,
        {
            "input": {
                "deviceId": global_id("Device", device.id),
                "levels": [{"colour": "BLACK", "percent": 60}],
            }
        },
        token=emaintenance_token,
    )
    outsider = await gql(
        QUERY_FORECAST, {"id": global_id("Device", device.id)}, as_user="admin@globex.example"
    )
    # then
    assert result.error_codes == NOT_IN_SCHEMA  # the machine client reports, never reads
    assert result.data is None
    assert outsider.data["node"] is None
