"""submitMeterReadingsBatch: good rows stored, bad rows reported by index and code; a fixed
number of statements whatever the number of rows."""

from __future__ import annotations

from tests.audiences import fields_of
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import devices_of, latest_of

QUERY_BATCH = """
mutation Batch($input: MeterReadingsBatchInput!) {
  submitMeterReadingsBatch(input: $input) {
    acceptedCount refusedCount
    results {
      index deviceId accepted
      device { serialNumber }
      readings { meter value source readingDate }
      errors { field code message }
    }
    userErrors { field code }
  }
}
"""

ADMIN = "admin@acme.example"


async def test_batch_stores_good_rows_and_reports_bad_ones(gql: GraphQLClient) -> None:
    # given: a good row, a row below the previous reading, a row for an unknown device
    good, low, other = await devices_of(gql, ADMIN, first=3)
    low_values = low.next_values()
    low_values[0]["value"] = -5 + low.latest[low_values[0]["meter"]][1]  # type: ignore[index]
    rows = [
        {"deviceId": good.id, "readings": good.next_values()},
        {"deviceId": low.id, "readings": low_values},
        {"deviceId": "RGV2aWNlOjk5OTk5OTk=", "readings": other.next_values()},
    ]
    low_before = await latest_of(gql, low.id)
    # when
    result = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user=ADMIN)
    # then
    assert not result.errors, result.errors
    payload = result.data["submitMeterReadingsBatch"]
    assert (payload["acceptedCount"], payload["refusedCount"]) == (1, 2)
    first, second, third = payload["results"]
    assert first["accepted"] and first["errors"] == []
    assert {r["source"] for r in first["readings"]} == {"BULK_UPLOAD"}
    assert first["device"]["serialNumber"] == good.serial
    assert second["index"] == 1 and not second["accepted"] and second["readings"] == []
    assert [(e["code"], e["field"]) for e in second["errors"]] == [
        ("READING_BELOW_PREVIOUS", ["rows", "1", "readings", "0", "value"])
    ]
    assert [(e["code"], e["field"]) for e in third["errors"]] == [
        ("DEVICE_NOT_FOUND", ["rows", "2", "deviceId"])
    ]
    assert third["device"] is None
    assert {m: v[1] for m, v in (await latest_of(gql, good.id)).items() if v} == {
        r["meter"]: r["value"] for r in good.next_values()
    }
    assert await latest_of(gql, low.id) == low_before


async def test_same_device_and_day_twice_in_one_batch_keeps_the_first(gql: GraphQLClient) -> None:
    # given
    [device] = await devices_of(gql, ADMIN, first=1)
    rows = [
        {"deviceId": device.id, "readings": device.next_values(10)},
        {"deviceId": device.id, "readings": device.next_values(20)},
    ]
    # when
    result = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user=ADMIN)
    # then
    payload = result.data["submitMeterReadingsBatch"]
    assert [r["accepted"] for r in payload["results"]] == [True, False]
    assert {e["code"] for e in payload["results"][1]["errors"]} == {"READING_ALREADY_TODAY"}


async def test_batch_costs_the_same_statements_for_5_and_50_rows(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    devices = await devices_of(gql, ADMIN, first=55)
    await gql.token_for(ADMIN)
    counts = []
    for chunk in (devices[:5], devices[5:55]):
        rows = [{"deviceId": d.id, "readings": d.next_values()} for d in chunk]
        statements.reset()
        # when
        result = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user=ADMIN)
        # then
        assert result.data["submitMeterReadingsBatch"]["acceptedCount"] == len(chunk)
        counts.append(statements.count)
    assert counts[0] == counts[1], counts


async def test_batch_of_more_than_250_rows_is_refused_whole(gql: GraphQLClient) -> None:
    # given
    [device] = await devices_of(gql, ADMIN, first=1)
    rows = [{"deviceId": device.id, "readings": device.next_values()}] * 251
    # when
    result = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user=ADMIN)
    # then: refused before anything is stored (by the request limits when they are stricter)
    if result.errors:
        assert result.error_codes == ["BAD_USER_INPUT"]
        return
    payload = result.data["submitMeterReadingsBatch"]
    assert payload["userErrors"] == [{"field": ["rows"], "code": "TOO_MANY_ROWS"}]
    assert payload["results"] == []


async def test_a_spreadsheet_of_250_rows_is_answered_row_by_row(gql: GraphQLClient) -> None:
    # given: 250 rows, the same device's reading repeated (only the first can be stored)
    [device] = await devices_of(gql, ADMIN, first=1)
    rows = [{"deviceId": device.id, "readings": device.next_values()}] * 250
    # when
    result = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user=ADMIN)
    # then: the request limits let the documented maximum through
    assert not result.errors, result.errors
    payload = result.data["submitMeterReadingsBatch"]
    assert len(payload["results"]) == 250
    assert payload["acceptedCount"] == 1
    assert payload["refusedCount"] == 249


async def test_submit_meter_readings_batch_requires_permission(gql: GraphQLClient) -> None:
    # given: an agent sees the device but does not submit readings; a stock manager's row for
    # a device it cannot reach answers like a missing device
    [device] = await devices_of(gql, ADMIN, first=1)
    rows = [{"deviceId": device.id, "readings": device.next_values()}]
    # when
    as_agent = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user="agent@vendor.example")
    as_kb = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user="kb@acme.example")
    as_globex = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user="admin@globex.example")
    # then: who submits readings nowhere has neither the mutation nor its input type
    for user, result in (("agent@vendor.example", as_agent), ("kb@acme.example", as_kb)):
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "submitMeterReadingsBatch" not in fields_of(user, "Mutation"), user
    [row] = as_globex.data["submitMeterReadingsBatch"]["results"]
    assert [e["code"] for e in row["errors"]] == ["DEVICE_NOT_FOUND"]
    # then: nothing was stored
    latest = await latest_of(gql, device.id)
    assert {m: v[:2] if v else None for m, v in latest.items()} == {
        m: (v[0].isoformat(), v[1]) if v else None for m, v in device.latest.items()
    }
