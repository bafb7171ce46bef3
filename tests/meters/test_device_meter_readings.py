"""Device.meterReadings (history), Device.latestReadings, Device.readingDue and the
devices(filter: {readingDue}) reminder list."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import parse_global_id
from models import MeterReading
from tests.audiences import fields_of
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import devices_of

pytestmark = pytest.mark.dates  # outcomes depend on the date: make test-dates

QUERY_HISTORY = """
query History($id: ID!, $meter: MeterType, $from: Date, $to: Date, $first: Int, $after: String) {
  node(id: $id) { ... on Device {
    meterReadings(meter: $meter, from: $from, to: $to, first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id meter readingDate value source submittedBy { name machineClient } }
    }
  } }
}
"""

QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) { userErrors { code } }
}
"""

QUERY_LATEST_PAGE = """
query Latest($first: Int) {
  devices(first: $first) {
    nodes { readingDue latestReadings { meter reading { readingDate value } } }
  }
}
"""

QUERY_DUE_PAGE = """
query Due($first: Int) { devices(first: $first) { nodes { readingDue } } }
"""

QUERY_DUE_FILTER = """
query DueFilter($due: Boolean, $after: String) {
  devices(first: 100, after: $after, filter: {readingDue: $due}) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id readingDue }
  }
}
"""

QUERY_STOCK_DEVICE = """
query StockDevice {
  devices(first: 1) {
    nodes { serialNumber meterReadings(first: 1) { totalCount } latestReadings { meter } }
  }
}
"""

QUERY_STOCK_DEVICE_SERIAL = "query StockDevice { devices(first: 1) { nodes { serialNumber } } }"

QUERY_DEVSTOCK_DEVICES = """
query DevstockDevices {
  devices(first: 100) {
    nodes { serialNumber meterReadings(first: 1) { totalCount } latestReadings { meter } }
  }
}
"""

ADMIN = "admin@acme.example"
MANAGER = "devices@acme.example"
AGENT = "agent@vendor.example"


async def test_history_is_newest_first_with_source_and_submitter(gql: GraphQLClient) -> None:
    # given: today's reading by the device manager on top of the seeded history
    [device] = await devices_of(gql, MANAGER, first=1)
    submitted = await gql(
        QUERY_SUBMIT,
        {"input": {"deviceId": device.id, "readings": device.next_values()}},
        as_user=MANAGER,
    )
    assert submitted.data["submitMeterReadings"]["userErrors"] == []
    # when
    result = await gql(QUERY_HISTORY, {"id": device.id, "meter": "TOTAL"}, as_user=MANAGER)
    # then
    assert not result.errors, result.errors
    history = result.data["node"]["meterReadings"]
    dates = [n["readingDate"] for n in history["nodes"]]
    assert dates == sorted(dates, reverse=True)
    assert {n["meter"] for n in history["nodes"]} == {"TOTAL"}
    newest = history["nodes"][0]
    assert newest["readingDate"] == device.today.isoformat()
    assert newest["source"] == "PORTAL"
    assert newest["submittedBy"] == {"name": "Daniel Devices", "machineClient": False}


async def test_history_pages_and_filters_by_date(gql: GraphQLClient) -> None:
    # given
    [device] = await devices_of(gql, ADMIN, first=1)
    everything = await gql(QUERY_HISTORY, {"id": device.id, "first": 100}, as_user=ADMIN)
    all_nodes = everything.data["node"]["meterReadings"]["nodes"]
    # when: two pages of 3, then a date window
    first = await gql(QUERY_HISTORY, {"id": device.id, "first": 3}, as_user=ADMIN)
    page = first.data["node"]["meterReadings"]
    second = await gql(
        QUERY_HISTORY,
        {"id": device.id, "first": 3, "after": page["pageInfo"]["endCursor"]},
        as_user=ADMIN,
    )
    day = date.fromisoformat(all_nodes[len(all_nodes) // 2]["readingDate"])
    window = await gql(
        QUERY_HISTORY,
        {"id": device.id, "from": day.isoformat(), "to": day.isoformat()},
        as_user=ADMIN,
    )
    # then
    ids = [n["id"] for n in all_nodes]
    assert [n["id"] for n in page["nodes"]] == ids[:3]
    assert [n["id"] for n in second.data["node"]["meterReadings"]["nodes"]] == ids[3:6]
    assert page["totalCount"] == len(ids)
    in_window = window.data["node"]["meterReadings"]["nodes"]
    assert in_window and {n["readingDate"] for n in in_window} == {day.isoformat()}


async def test_meter_history_requires_permission(gql: GraphQLClient) -> None:
    # given: a stock manager sees the e-Maintenance devices its stock location supplies, but
    # holds VIEW_METER_READINGS nowhere; a device-and-stock manager holds it on its assigned
    # devices, not on those it sees only because its stock location supplies them
    stock, devstock = "stock@acme.example", "devstock@acme.example"
    # when
    result = await gql(QUERY_STOCK_DEVICE, as_user=stock)
    serials = await gql(QUERY_STOCK_DEVICE_SERIAL, as_user=stock)
    mixed = await gql(QUERY_DEVSTOCK_DEVICES, as_user=devstock)
    # then: the readings are not in the stock manager's schema, its devices are
    assert result.data is None
    assert set(result.error_codes) == set(NOT_IN_SCHEMA), result.errors
    assert {"meterReadings", "latestReadings"}.isdisjoint(fields_of(stock, "Device"))
    assert not serials.errors, serials.errors
    assert serials.data["devices"]["nodes"][0]["serialNumber"]
    # then: the device-and-stock manager is refused them per device
    nodes = mixed.data["devices"]["nodes"]
    assert set(mixed.error_codes) == {"FORBIDDEN"}
    assert {tuple(e["path"][-1:]) for e in mixed.errors} == {
        ("meterReadings",),
        ("latestReadings",),
    }
    refused = {e["path"][2] for e in mixed.errors}
    assert all(nodes[i]["meterReadings"] is None for i in refused)
    assert all(nodes[i]["latestReadings"] is None for i in refused)
    assert any(n["meterReadings"] is not None for n in nodes), "its assigned devices answer"


async def test_latest_readings_cost_the_same_statements_for_any_page_size(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql.token_for(AGENT)
    counts = {}
    for query, sizes in ((QUERY_LATEST_PAGE, (10, 40)), (QUERY_DUE_PAGE, (10, 100))):
        for size in sizes:
            statements.reset()
            # when
            result = await gql(query, {"first": size}, as_user=AGENT)
            # then
            assert not result.errors, result.errors
            assert len(result.data["devices"]["nodes"]) == size
            counts[(query, size)] = statements.count
    assert counts[(QUERY_LATEST_PAGE, 10)] == counts[(QUERY_LATEST_PAGE, 40)], counts
    assert counts[(QUERY_DUE_PAGE, 10)] == counts[(QUERY_DUE_PAGE, 100)], counts


async def test_reading_due_until_a_reading_this_month(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a device with nothing read since the 1st of the month (its site's time)
    [device] = await devices_of(gql, ADMIN, first=1)
    parsed = parse_global_id(device.id)
    assert parsed is not None
    since = device.today.replace(day=1)
    await connection.execute(
        delete(MeterReading).where(
            MeterReading.device_id == parsed[1], MeterReading.reading_date >= since
        )
    )
    # when
    due = await _ids(gql, True)
    not_due = await _ids(gql, False)
    # then
    assert device.id in due and device.id not in not_due
    # when: a reading today
    submitted = await gql(
        QUERY_SUBMIT,
        {"input": {"deviceId": device.id, "readings": device.next_values()}},
        as_user=ADMIN,
    )
    assert submitted.data["submitMeterReadings"]["userErrors"] == []
    # then
    assert device.id not in await _ids(gql, True)
    assert device.id in await _ids(gql, False)


async def _ids(gql: GraphQLClient, due: bool, *, consistent: bool = True) -> set[str]:
    found: dict[str, bool] = {}
    after = None
    while True:
        result = await gql(QUERY_DUE_FILTER, {"due": due, "after": after}, as_user=ADMIN)
        assert not result.errors, result.errors
        page = result.data["devices"]
        found |= {n["id"]: n["readingDue"] for n in page["nodes"]}
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    if consistent:  # the field and the filter agree
        assert set(found.values()) <= {due}
    return set(found)


async def test_reading_due_follows_each_sites_month_around_a_boundary(
    gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the hours around a month boundary, when Paris is already in a later month than
    # the rest of the world (simulated: Paris's month starts far ahead)
    import resolvers.reading_due

    [device] = await devices_of(gql, ADMIN, first=1, filter={"search": "LC4"})
    assert device.time_zone == "Europe/Paris"
    before = await _ids(gql, True)
    common, others = resolvers.reading_due._period_start_by_zone()
    simulated = {d: [z for z in zones if z != "Europe/Paris"] for d, zones in others.items()}
    simulated[date(2999, 1, 1)] = ["Europe/Paris"]
    monkeypatch.setattr(resolvers.reading_due, "_period_start_by_zone", lambda: (common, simulated))
    # when (only the filter is simulated, not the field)
    due = await _ids(gql, True, consistent=False)
    # then: every Paris device is due, the others as before
    assert device.id in due
    assert before <= due


QUERY_COUNT_DEVICES = """
query Count($due: Boolean) { devices(first: 1, filter: {readingDue: $due}) { totalCount } }
"""


async def test_reading_due_filter_requires_the_right_to_read_readings(gql: GraphQLClient) -> None:
    # given: a stock manager sees the e-Maintenance devices its location supplies, not their readings
    stock_manager = "stock@acme.example"
    unfiltered = await gql(QUERY_COUNT_DEVICES, {"due": None}, as_user=stock_manager)
    # when
    due = await gql(QUERY_COUNT_DEVICES, {"due": True}, as_user=stock_manager)
    not_due = await gql(QUERY_COUNT_DEVICES, {"due": False}, as_user=stock_manager)
    # then: the filter reveals nothing about readings it may not read
    assert unfiltered.data["devices"]["totalCount"] > 0
    assert due.data["devices"]["totalCount"] == 0
    assert not_due.data["devices"]["totalCount"] == 0
