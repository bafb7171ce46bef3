"""correctMeterReading: agents fix a value with a reason; the original stays in the audit log
and the meter's order with its neighbours still holds."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import parse_global_id
from models import AuditLogEntry
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import devices_of

QUERY_HISTORY = """
query History($id: ID!) {
  node(id: $id) { ... on Device {
    meterReadings(meter: TOTAL, first: 3) { nodes { id readingDate value source } }
  } }
}
"""

QUERY_CORRECT = """
mutation Correct($input: CorrectMeterReadingInput!) {
  correctMeterReading(input: $input) {
    reading { id value source correctionReason submittedBy { name } }
    userErrors { field code }
  }
}
"""

AGENT = "agent@vendor.example"


async def _three_newest(gql: GraphQLClient) -> list[dict]:
    [device] = await devices_of(gql, "admin@acme.example", first=1)
    result = await gql(QUERY_HISTORY, {"id": device.id}, as_user=AGENT)
    assert not result.errors, result.errors
    return result.data["node"]["meterReadings"]["nodes"]  # type: ignore[no-any-return]


async def test_agent_corrects_a_reading_between_its_neighbours(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: the middle one of three readings (newest first)
    later, middle, earlier = await _three_newest(gql)
    value = (earlier["value"] + later["value"]) // 2
    # when
    result = await gql(
        QUERY_CORRECT,
        {"input": {"readingId": middle["id"], "value": value, "reason": "Misread digit"}},
        as_user=AGENT,
    )
    # then
    assert not result.errors, result.errors
    payload = result.data["correctMeterReading"]
    assert payload["userErrors"] == []
    assert payload["reading"] == {
        "id": middle["id"],
        "value": value,
        "source": "AGENT_CORRECTION",
        "correctionReason": "Misread digit",
        "submittedBy": {"name": "Vera Agent"},
    }
    parsed = parse_global_id(middle["id"])
    assert parsed is not None
    entry = (
        await connection.execute(
            select(AuditLogEntry.action, AuditLogEntry.details).where(
                AuditLogEntry.object_type == "MeterReading", AuditLogEntry.object_id == parsed[1]
            )
        )
    ).one()
    assert entry.action == "meter_reading.corrected"
    assert entry.details["original_value"] == middle["value"]
    assert entry.details["original_source"] == middle["source"]
    assert (entry.details["value"], entry.details["reason"]) == (value, "Misread digit")


async def test_correction_keeps_the_meter_in_order(gql: GraphQLClient) -> None:
    # given
    later, middle, earlier = await _three_newest(gql)
    # when
    too_low = await gql(
        QUERY_CORRECT,
        {"input": {"readingId": middle["id"], "value": earlier["value"] - 1, "reason": "x"}},
        as_user=AGENT,
    )
    too_high = await gql(
        QUERY_CORRECT,
        {"input": {"readingId": middle["id"], "value": later["value"] + 1, "reason": "x"}},
        as_user=AGENT,
    )
    no_reason = await gql(
        QUERY_CORRECT,
        {"input": {"readingId": middle["id"], "value": middle["value"], "reason": "  "}},
        as_user=AGENT,
    )
    # then
    assert too_low.data["correctMeterReading"]["userErrors"] == [
        {"field": ["value"], "code": "READING_BELOW_PREVIOUS"}
    ]
    assert too_high.data["correctMeterReading"]["userErrors"] == [
        {"field": ["value"], "code": "READING_ABOVE_LATER"}
    ]
    assert no_reason.data["correctMeterReading"]["userErrors"] == [
        {"field": ["reason"], "code": "REASON_REQUIRED"}
    ]
    [_, unchanged, _] = await _three_newest(gql)
    assert unchanged == middle


async def test_correct_meter_reading_requires_permission(gql: GraphQLClient) -> None:
    # given: customers submit readings but do not correct them (CORRECT_METER_READINGS nowhere)
    _, middle, _ = await _three_newest(gql)
    input = {"readingId": middle["id"], "value": middle["value"], "reason": "mine"}
    # when
    as_admin = await gql(QUERY_CORRECT, {"input": input}, as_user="admin@acme.example")
    # then: neither the mutation nor its input type is in its schema: refused before it runs
    assert set(as_admin.error_codes) == set(NOT_IN_SCHEMA), as_admin.errors
    assert as_admin.data is None
    assert "correctMeterReading" not in fields_of("admin@acme.example", "Mutation")
    [_, unchanged, _] = await _three_newest(gql)
    assert unchanged == middle
