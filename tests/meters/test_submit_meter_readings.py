"""submitMeterReadings: the vendor's rules, each with its own code; nothing stored on refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from models import AuditLogEntry
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import devices_of, latest_of

pytestmark = pytest.mark.dates  # outcomes depend on the date: make test-dates

QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) {
    device { id }
    readings { id meter readingDate value source submittedBy { name machineClient } }
    userErrors { field message code }
  }
}
"""

ADMIN = "admin@acme.example"
MANAGER = "devices@acme.example"


async def _submit(gql: GraphQLClient, user: str, **input: object) -> dict:
    result = await gql(QUERY_SUBMIT, {"input": input}, as_user=user)
    assert not result.errors, result.errors
    return result.data["submitMeterReadings"]


def _codes(payload: dict) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


async def test_device_manager_submits_todays_readings(gql: GraphQLClient) -> None:
    # given
    [device, *_] = await devices_of(gql, MANAGER, first=1)
    # when
    payload = await _submit(gql, MANAGER, deviceId=device.id, readings=device.next_values())
    # then
    assert payload["userErrors"] == []
    assert {r["meter"] for r in payload["readings"]} == set(device.latest)
    assert {r["readingDate"] for r in payload["readings"]} == {device.today.isoformat()}
    assert {r["source"] for r in payload["readings"]} == {"PORTAL"}
    assert payload["readings"][0]["submittedBy"] == {
        "name": "Daniel Devices",
        "machineClient": False,
    }
    latest = await latest_of(gql, device.id)
    assert {m: v[1] for m, v in latest.items() if v} == {
        r["meter"]: r["value"] for r in device.next_values()
    }


async def _audit_entries(connection: AsyncConnection, request_id: str) -> list[tuple]:
    rows = await connection.execute(
        select(
            AuditLogEntry.action,
            AuditLogEntry.object_type,
            AuditLogEntry.details,
            AuditLogEntry.actor_user_id.is_not(None),
        )
        .where(AuditLogEntry.request_id == request_id)
        .order_by(AuditLogEntry.id)
    )
    return [tuple(r) for r in rows.all()]


async def test_a_submission_leaves_one_audit_entry_accepted_or_refused(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given (on PostgreSQL the entry of an accepted submission is written by the readings'
    # statement, elsewhere by the mutation's transaction)
    [device, *_] = await devices_of(gql, MANAGER, first=1)
    submit = {"input": {"deviceId": device.id, "readings": device.next_values()}}
    # when
    accepted = await gql(QUERY_SUBMIT, submit, as_user=MANAGER, headers={"X-Request-Id": "sub-1"})
    again = await gql(QUERY_SUBMIT, submit, as_user=MANAGER, headers={"X-Request-Id": "sub-2"})
    # then
    assert accepted.data["submitMeterReadings"]["userErrors"] == []
    assert _codes(again.data["submitMeterReadings"])[0] == "READING_ALREADY_TODAY"
    assert await _audit_entries(connection, "sub-1") == [
        ("mutation:submitMeterReadings", "Mutation", {"outcome": "ok"}, True)
    ]
    # a refusal by the rules is the mutation's answer (committed with its webhook event)
    assert await _audit_entries(connection, "sub-2") == [
        ("mutation:submitMeterReadings", "Mutation", {"outcome": "ok"}, True)
    ]


async def test_submit_meter_readings_requires_permission(gql: GraphQLClient) -> None:
    # given: agents see every device but do not submit readings; knowledge users see nothing
    [device, *_] = await devices_of(gql, MANAGER, first=1)
    # when
    as_agent = await gql(
        QUERY_SUBMIT,
        {"input": {"deviceId": device.id, "readings": device.next_values()}},
        as_user="agent@vendor.example",
    )
    as_kb = await gql(
        QUERY_SUBMIT,
        {"input": {"deviceId": device.id, "readings": device.next_values()}},
        as_user="kb@acme.example",
    )
    # then: neither holds SUBMIT_METER_READINGS anywhere: neither the mutation nor its input
    # type is in their schemas, refused before anything runs
    for user, result in (("agent@vendor.example", as_agent), ("kb@acme.example", as_kb)):
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "submitMeterReadings" not in fields_of(user, "Mutation"), user
    assert await latest_of(gql, device.id) == {
        m: (v[0].isoformat(), v[1], (await latest_of(gql, device.id))[m][2]) if v else None  # type: ignore[index]
        for m, v in device.latest.items()
    }


async def test_device_out_of_scope_answers_like_a_missing_one(gql: GraphQLClient) -> None:
    # given: a device of Acme, seen by Globex's administrator
    [device, *_] = await devices_of(gql, MANAGER, first=1)
    # when
    foreign = await _submit(
        gql, "admin@globex.example", deviceId=device.id, readings=device.next_values()
    )
    missing = await _submit(
        gql, "admin@globex.example", deviceId="RGV2aWNlOjk5OTk5OTk=", readings=device.next_values()
    )
    # then
    assert foreign["userErrors"] == missing["userErrors"]
    assert _codes(foreign) == ["DEVICE_NOT_FOUND"]
    assert foreign["userErrors"][0]["field"] == ["deviceId"]


async def test_reading_below_previous_is_refused_and_nothing_stored(gql: GraphQLClient) -> None:
    # given: one meter fine, one lower than its previous reading
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    readings = device.next_values()
    readings[1]["value"] = device.latest[readings[1]["meter"]][1] - 1  # type: ignore[index]
    before = await latest_of(gql, device.id)
    # when
    payload = await _submit(gql, ADMIN, deviceId=device.id, readings=readings)
    # then
    assert _codes(payload) == ["READING_BELOW_PREVIOUS"]
    assert payload["userErrors"][0]["field"] == ["readings", "1", "value"]
    assert payload["readings"] == []
    assert await latest_of(gql, device.id) == before


async def test_reading_above_a_later_reading_is_refused(gql: GraphQLClient) -> None:
    # given: a day between two existing readings, with a value above the later one
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    meter, (last_day, last_value) = next((m, v) for m, v in device.latest.items() if v)
    # when
    payload = await _submit(
        gql,
        ADMIN,
        deviceId=device.id,
        readingDate=(last_day - timedelta(days=1)).isoformat(),
        readings=[{"meter": meter, "value": last_value + 1}],
    )
    # then
    assert _codes(payload) == ["READING_ABOVE_LATER"]
    assert payload["userErrors"][0]["field"] == ["readings", "0", "value"]


async def test_second_reading_the_same_day_is_refused(gql: GraphQLClient) -> None:
    # given
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    first = await _submit(gql, ADMIN, deviceId=device.id, readings=device.next_values(10))
    assert first["userErrors"] == []
    # when
    second = await _submit(gql, ADMIN, deviceId=device.id, readings=device.next_values(20))
    # then
    assert set(_codes(second)) == {"READING_ALREADY_TODAY"}
    assert second["userErrors"][0]["field"] == ["readings", "0", "meter"]


async def test_reading_date_in_the_future_is_refused(gql: GraphQLClient) -> None:
    # given
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    # when
    payload = await _submit(
        gql,
        ADMIN,
        deviceId=device.id,
        readingDate=(device.today + timedelta(days=1)).isoformat(),
        readings=device.next_values(),
    )
    # then
    assert _codes(payload) == ["READING_DATE_IN_FUTURE"]
    assert payload["userErrors"][0]["field"] == ["readingDate"]


async def test_reading_before_installation_is_refused(gql: GraphQLClient) -> None:
    # given
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    # when
    payload = await _submit(
        gql,
        ADMIN,
        deviceId=device.id,
        readingDate=(device.installed_on - timedelta(days=1)).isoformat(),
        readings=device.next_values(),
    )
    # then
    assert "READING_BEFORE_INSTALLATION" in _codes(payload)
    assert payload["userErrors"][0]["field"] == ["readingDate"]


async def test_meter_the_model_does_not_have_is_refused(gql: GraphQLClient) -> None:
    # given: a meter missing from the device's model
    [device, *_] = await devices_of(gql, ADMIN, first=1, filter={"search": "LM4"})
    assert "COLOUR" not in device.latest
    readings = [*device.next_values(), {"meter": "COLOUR", "value": 5}]
    # when
    payload = await _submit(gql, ADMIN, deviceId=device.id, readings=readings)
    # then
    assert _codes(payload) == ["METER_NOT_ON_MODEL"]
    assert payload["userErrors"][0]["field"] == ["readings", str(len(readings) - 1), "meter"]


async def test_implausible_jump_is_refused(gql: GraphQLClient) -> None:
    # given: more than the model's maximum pages per day since the previous reading
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    days = (device.today - device.last_date).days
    readings = device.next_values()
    meter = readings[0]["meter"]
    readings[0]["value"] = device.latest[meter][1] + device.max_pages_per_day * days + 1  # type: ignore[index]
    # when
    payload = await _submit(gql, ADMIN, deviceId=device.id, readings=readings)
    # then
    assert _codes(payload) == ["READING_IMPLAUSIBLE"]
    assert payload["userErrors"][0]["field"] == ["readings", "0", "value"]


async def test_largest_plausible_jump_is_accepted(gql: GraphQLClient) -> None:
    # given: exactly the model's maximum pages per day since the previous reading
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    meter, (day, value) = next((m, v) for m, v in device.latest.items() if v)
    most = device.max_pages_per_day * (device.today - day).days
    # when
    payload = await _submit(
        gql, ADMIN, deviceId=device.id, readings=[{"meter": meter, "value": value + most}]
    )
    # then
    assert payload["userErrors"] == []


async def test_duplicate_meter_and_list_caps_are_refused(gql: GraphQLClient) -> None:
    # given
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    twice = device.next_values()[:1] * 2
    too_many = [{"meter": "TOTAL", "value": n} for n in range(7)]
    # when
    duplicate = await _submit(gql, ADMIN, deviceId=device.id, readings=twice)
    capped = await _submit(gql, ADMIN, deviceId=device.id, readings=too_many)
    empty = await _submit(gql, ADMIN, deviceId=device.id, readings=[])
    negative = await _submit(
        gql, ADMIN, deviceId=device.id, readings=[{"meter": "TOTAL", "value": -1}]
    )
    # then
    assert _codes(duplicate) == ["DUPLICATE_METER"]
    assert duplicate["userErrors"][0]["field"] == ["readings", "1", "meter"]
    assert "TOO_MANY_READINGS" in _codes(capped)
    assert _codes(empty) == ["READINGS_REQUIRED"]
    assert _codes(negative) == ["READING_NEGATIVE"]


async def test_messages_follow_the_callers_language(gql: GraphQLClient) -> None:
    # given
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    input = {
        "deviceId": device.id,
        "readingDate": (device.today + timedelta(days=3)).isoformat(),
        "readings": device.next_values(),
    }
    messages = {}
    # when
    for language in ("en", "fr", "it"):
        result = await gql(
            QUERY_SUBMIT, {"input": input}, as_user=ADMIN, headers={"Accept-Language": language}
        )
        messages[language] = result.data["submitMeterReadings"]["userErrors"][0]["message"]
    # then
    assert "future" in messages["en"]
    assert "futur" in messages["fr"]
    assert "futuro" in messages["it"]


QUERY_NEWEST_READ_DEVICE = """
query { devices(first: 1, orderBy: {field: LAST_READING_DATE, direction: DESC}) {
  nodes { id } } }
"""


async def test_accepted_reading_moves_the_device_to_the_top_of_last_reading_order(
    gql: GraphQLClient,
) -> None:
    # given: the manager's device read longest ago
    devices = await devices_of(gql, MANAGER, first=5)
    oldest = min(devices, key=lambda d: d.last_date)
    # when
    payload = await _submit(gql, MANAGER, deviceId=oldest.id, readings=oldest.next_values())
    result = await gql(QUERY_NEWEST_READ_DEVICE, as_user=MANAGER)
    # then
    assert payload["userErrors"] == []
    assert result.data["devices"]["nodes"] == [{"id": oldest.id}]
