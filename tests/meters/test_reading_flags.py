"""Reading flags (SPIKE, STALE_DEVICE, ESTIMATED) stored with the readings, the `flags` filter
of the meter history, and `Device.estimatedReadings`."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import new_device
from tests.stock.conftest import analytics_token  # noqa: F401 (fixture)

ADMIN = "admin@acme.example"
QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) {
    readings { readingDate value flags }
    userErrors { field code }
  }
}
"""
QUERY_HISTORY = """
query History($id: ID!, $flags: [MeterReadingFlag!]) {
  node(id: $id) {
    ... on Device { meterReadings(first: 50, flags: $flags) { nodes { readingDate flags } } }
  }
}
"""
QUERY_ESTIMATE = """
query Estimate($id: ID!, $on: Date!) {
  node(id: $id) {
    ... on Device { estimatedReadings(on: $on) { meter on value low high basis flags } }
  }
}
"""
QUERY_FLEET_ESTIMATES = """
query Fleet($first: Int!) {
  devices(first: $first) { nodes { estimatedReadings(on: "2025-01-15") { meter value } } }
}
"""
_serials = itertools.count(1)


async def _submit(gql: GraphQLClient, device: str, day: date, value: int, **extra: Any) -> Any:
    result = await gql(
        QUERY_SUBMIT,
        {
            "input": {
                "deviceId": device,
                "readingDate": day.isoformat(),
                "readings": [{"meter": "TOTAL", "value": value, **extra}],
            }
        },
        as_user=ADMIN,
    )
    payload = result.data["submitMeterReadings"]
    assert payload["userErrors"] == [], payload
    [reading] = payload["readings"]
    return reading["flags"]


async def _history(connection: AsyncConnection, gql: GraphQLClient) -> str:
    """A device read at 50 pages a day from January to March 2025, then a spike in April, a
    silence of 52 days and an estimate in June."""
    pk = await new_device(connection, f"FLAGS-{next(_serials):05d}", date(2024, 12, 1))
    device = global_id("Device", pk)
    value = 1_000
    day = date(2025, 1, 1)
    assert await _submit(gql, device, day, value) == []
    for step in (30, 28, 31, 7):
        day += timedelta(days=step)
        value += 50 * step
        assert await _submit(gql, device, day, value) == []
    return device


async def test_flags_are_stored_with_the_readings(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device = await _history(connection, gql)
    # when: 300 pages a day for three days (six times the usual 50), then 52 days unread
    spike = await _submit(gql, device, date(2025, 4, 10), 5_800 + 900)
    stale = await _submit(gql, device, date(2025, 6, 1), 6_700 + 52 * 50)
    estimated = await _submit(gql, device, date(2025, 6, 2), 9_300 + 50, estimated=True)
    # then: stored, flagged
    assert (spike, stale, estimated) == (["SPIKE"], ["STALE_DEVICE"], ["ESTIMATED"])
    spikes = await gql(QUERY_HISTORY, {"id": device, "flags": ["SPIKE"]}, as_user=ADMIN)
    assert spikes.data["node"]["meterReadings"]["nodes"] == [
        {"readingDate": "2025-04-10", "flags": ["SPIKE"]}
    ]
    others = await gql(
        QUERY_HISTORY, {"id": device, "flags": ["STALE_DEVICE", "ESTIMATED"]}, as_user=ADMIN
    )
    assert [n["readingDate"] for n in others.data["node"]["meterReadings"]["nodes"]] == [
        "2025-06-02",
        "2025-06-01",
    ]
    every = await gql(QUERY_HISTORY, {"id": device}, as_user="agent@vendor.example")
    assert len(every.data["node"]["meterReadings"]["nodes"]) == 8
    none = await gql(QUERY_HISTORY, {"id": device, "flags": []}, as_user=ADMIN)
    assert none.data["node"]["meterReadings"]["nodes"] == []


async def test_estimated_readings(gql: GraphQLClient, connection: AsyncConnection) -> None:
    # given: read on Monday 7 April 2025 (5,800) and Thursday 10 April (6,700)
    device = await _history(connection, gql)
    await _submit(gql, device, date(2025, 4, 10), 6_700)
    # when
    between = await gql(QUERY_ESTIMATE, {"id": device, "on": "2025-04-09"}, as_user=ADMIN)
    read = await gql(QUERY_ESTIMATE, {"id": device, "on": "2025-04-10"}, as_user=ADMIN)
    after = await gql(QUERY_ESTIMATE, {"id": device, "on": "2025-05-10"}, as_user=ADMIN)
    before = await gql(QUERY_ESTIMATE, {"id": device, "on": "2024-12-31"}, as_user=ADMIN)
    # then: Tuesday and Wednesday of three working days -> two thirds of 900
    [estimate] = between.data["node"]["estimatedReadings"]
    assert estimate == {
        "meter": "TOTAL",
        "on": "2025-04-09",
        "value": 5_800 + 600,
        "low": 5_800,
        "high": 6_700,
        "basis": "INTERPOLATED",
        "flags": ["ESTIMATED"],
    }
    [exact] = read.data["node"]["estimatedReadings"]
    assert (exact["value"], exact["basis"], exact["flags"]) == (6_700, "READ", [])
    [later] = after.data["node"]["estimatedReadings"]
    assert later["basis"] == "EXTRAPOLATED" and 6_700 < later["low"] <= later["value"]
    assert later["value"] <= later["high"]
    assert before.data["node"]["estimatedReadings"] == []


async def test_estimated_readings_cost_the_same_statements_whatever_the_page(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql(QUERY_FLEET_ESTIMATES, {"first": 1}, as_user=ADMIN)
    # when
    _, few = await statements.of(gql(QUERY_FLEET_ESTIMATES, {"first": 2}, as_user=ADMIN))
    large, many = await statements.of(gql(QUERY_FLEET_ESTIMATES, {"first": 40}, as_user=ADMIN))
    # then
    assert len(large.data["devices"]["nodes"]) == 40
    assert few == many, statements.statements


async def test_estimated_readings_require_permission(
    gql: GraphQLClient,
    connection: AsyncConnection,
    analytics_token: str,  # noqa: F811
) -> None:
    # given: an analytics client sees every device but never their readings (not in its schema)
    device = await _history(connection, gql)
    # when
    result = await gql(QUERY_ESTIMATE, {"id": device, "on": "2025-02-01"}, token=analytics_token)
    outsider = await gql(
        QUERY_ESTIMATE, {"id": device, "on": "2025-02-01"}, as_user="admin@globex.example"
    )
    # then
    assert result.error_codes == NOT_IN_SCHEMA
    assert result.data is None
    assert outsider.data["node"] is None
