"""meterUsage: pages per group and period, checked against a hand computation on a small
known set of readings."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from auth.passwords import hash_password
from core.ids import global_id
from models import ApiClient, MeterReading
from models.enums import MeterType, ReadingSource
from resolvers.usage_rollup import respread_around
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import new_device

pytestmark = pytest.mark.dates  # outcomes depend on the date: make test-dates

QUERY_USAGE = """
query Usage($filter: MeterUsageFilter, $groupBy: UsageGroupBy!, $period: UsagePeriod!) {
  meterUsage(filter: $filter, groupBy: $groupBy, period: $period) {
    groupId groupName meter periodStart periodEnd pages
  }
}
"""

QUERY_CLIENT_TOKEN = """
mutation Token($input: ClientTokenInput!) { clientToken(input: $input) { accessToken } }
"""

# TOTAL: 1,000 on 1 Jan, 2,000 on 11 Jan (100 a day from 2 to 11 Jan), 8,000 on 10 Feb
# (200 a day from 12 Jan to 10 Feb).
READINGS = [(date(2025, 1, 1), 1_000), (date(2025, 1, 11), 2_000), (date(2025, 2, 10), 8_000)]


@pytest.fixture
async def device_id(connection: AsyncConnection) -> str:
    """A device of Acme France with a known, short history."""
    pk = await new_device(connection, "USAGE-0001", date(2024, 12, 1))
    await connection.execute(
        insert(MeterReading),
        [
            {
                "device_id": pk,
                "meter": MeterType.TOTAL,
                "reading_date": day,
                "value": value,
                "source": ReadingSource.PORTAL,
            }
            for day, value in READINGS
        ],
    )
    await respread_around(connection, [(pk, MeterType.TOTAL, day) for day, _ in READINGS])
    return global_id("Device", pk)


async def _usage(
    gql: GraphQLClient, user: str | None = None, token: str | None = None, **variables: object
) -> list[dict]:
    result = await gql(QUERY_USAGE, variables, as_user=user, token=token)
    assert not result.errors, result.errors
    return result.data["meterUsage"]  # type: ignore[no-any-return]


def _pages(rows: list[dict]) -> list[tuple[str, float]]:
    return [(r["periodStart"], r["pages"]) for r in rows]


async def test_monthly_usage_spreads_pages_over_the_days_between_readings(
    gql: GraphQLClient, device_id: str
) -> None:
    # given: 5 Jan - 5 Feb; the reading before (1 Jan) and after (10 Feb) bound the range
    filter = {"deviceIds": [device_id], "from": "2025-01-05", "to": "2025-02-05"}
    # when
    rows = await _usage(gql, "admin@acme.example", filter=filter, groupBy="DEVICE", period="MONTH")
    # then: January 5-11 at 100 + 12-31 at 200; February 1-5 at 200
    assert _pages(rows) == [("2025-01-01", 700 + 4_000), ("2025-02-01", 1_000)]
    assert {(r["groupId"], r["groupName"], r["meter"]) for r in rows} == {
        (device_id, "USAGE-0001", "TOTAL")
    }
    assert [r["periodEnd"] for r in rows] == ["2025-01-31", "2025-02-28"]


async def test_weekly_and_daily_usage(gql: GraphQLClient, device_id: str) -> None:
    # given
    weeks = {"deviceIds": [device_id], "from": "2025-01-05", "to": "2025-01-19"}
    days = {"deviceIds": [device_id], "from": "2025-01-10", "to": "2025-01-13"}
    inside = {"deviceIds": [device_id], "from": "2025-01-20", "to": "2025-01-21"}
    # when
    weekly = await _usage(gql, "admin@acme.example", filter=weeks, groupBy="DEVICE", period="WEEK")
    daily = await _usage(gql, "admin@acme.example", filter=days, groupBy="DEVICE", period="DAY")
    between = await _usage(
        gql, "agent@vendor.example", filter=inside, groupBy="DEVICE", period="DAY"
    )
    # then: weeks start on Monday; Sunday 5 Jan alone in the first one
    assert _pages(weekly) == [
        ("2024-12-30", 100),
        ("2025-01-06", 6 * 100 + 200),
        ("2025-01-13", 7 * 200),
    ]
    assert _pages(daily) == [
        ("2025-01-10", 100),
        ("2025-01-11", 100),
        ("2025-01-12", 200),
        ("2025-01-13", 200),
    ]
    # no reading inside the range: the interval around it still counts
    assert _pages(between) == [("2025-01-20", 200), ("2025-01-21", 200)]


async def test_usage_grouped_by_account(gql: GraphQLClient, device_id: str) -> None:
    # given
    filter = {
        "deviceIds": [device_id],
        "from": "2025-01-01",
        "to": "2025-01-31",
        "meters": ["TOTAL"],
    }
    # when
    rows = await _usage(gql, "admin@acme.example", filter=filter, groupBy="ACCOUNT", period="MONTH")
    # then
    assert [(r["groupName"], r["pages"]) for r in rows] == [("Acme France", 10 * 100 + 20 * 200)]


async def test_analytics_client_reads_usage(
    gql: GraphQLClient, connection: AsyncConnection, device_id: str
) -> None:
    # given: a machine client holding only the analytics scope
    await connection.execute(
        insert(ApiClient).values(
            client_id="analytics-test",
            name="Analytics",
            secret_hash=hash_password("analytics-secret"),
            scopes=["analytics:read"],
        )
    )
    token = await gql(
        QUERY_CLIENT_TOKEN,
        {"input": {"clientId": "analytics-test", "clientSecret": "analytics-secret"}},
    )
    filter = {"deviceIds": [device_id], "from": "2025-02-01", "to": "2025-02-10"}
    # when
    rows = await _usage(
        gql,
        token=token.data["clientToken"]["accessToken"],
        filter=filter,
        groupBy="MODEL",
        period="MONTH",
    )
    # then
    assert [r["pages"] for r in rows] == [10 * 200]


async def test_meter_usage_requires_permission(gql: GraphQLClient, device_id: str) -> None:
    # given: a device manager holds no analytics permission; another customer's administrator
    # does, but not on this device
    filter = {"deviceIds": [device_id], "from": "2025-01-01", "to": "2025-01-31"}
    variables = {"filter": filter, "groupBy": "DEVICE", "period": "MONTH"}
    # when
    as_manager = await gql(QUERY_USAGE, variables, as_user="devices@acme.example")
    as_globex = await gql(QUERY_USAGE, variables, as_user="admin@globex.example")
    # then: not in the device manager's schema (nor its argument types); the other
    # administrator holds it elsewhere and sees no usage of this device
    assert as_manager.data is None
    assert set(as_manager.error_codes) == set(NOT_IN_SCHEMA), as_manager.errors
    assert "meterUsage" not in fields_of("devices@acme.example", "Query")
    assert not as_globex.errors, as_globex.errors
    assert as_globex.data["meterUsage"] == []
