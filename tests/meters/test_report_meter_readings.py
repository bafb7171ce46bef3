"""reportMeterReadings: e-Maintenance's machine credential reports readings of its devices."""

from __future__ import annotations

from demo.fleet import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.meters.helpers import devices_of, latest_of

QUERY_CLIENT_TOKEN = """
mutation Token($input: ClientTokenInput!) {
  clientToken(input: $input) { accessToken userErrors { code } }
}
"""

QUERY_REPORT = """
mutation Report($input: MeterReadingsBatchInput!) {
  reportMeterReadings(input: $input) {
    acceptedCount refusedCount
    results { index accepted readings { source submittedBy { name machineClient } } errors { field code } }
    userErrors { code }
  }
}
"""

QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) { userErrors { code } }
}
"""

ADMIN = "admin@acme.example"


async def _client_token(gql: GraphQLClient) -> str:
    result = await gql(
        QUERY_CLIENT_TOKEN,
        {"input": {"clientId": DEMO_CLIENT_ID, "clientSecret": DEMO_CLIENT_SECRET}},
    )
    assert not result.errors, result.errors
    return result.data["clientToken"]["accessToken"]  # type: ignore[no-any-return]


async def test_e_maintenance_reports_readings_of_its_devices(gql: GraphQLClient) -> None:
    # given
    [remote] = await devices_of(gql, ADMIN, first=1, filter={"eMaintenance": True})
    [local] = await devices_of(gql, ADMIN, first=1, filter={"eMaintenance": False})
    token = await _client_token(gql)
    rows = [
        {"deviceId": remote.id, "readings": remote.next_values()},
        {"deviceId": local.id, "readings": local.next_values()},
    ]
    # when
    result = await gql(QUERY_REPORT, {"input": {"rows": rows}}, token=token)
    # then
    assert not result.errors, result.errors
    payload = result.data["reportMeterReadings"]
    accepted, refused = payload["results"]
    assert accepted["accepted"]
    assert {r["source"] for r in accepted["readings"]} == {"REMOTE"}
    assert accepted["readings"][0]["submittedBy"] == {
        "name": "e-Maintenance integration (demo)",
        "machineClient": True,
    }
    assert refused["errors"] == [{"field": ["rows", "1", "deviceId"], "code": "DEVICE_NOT_FOUND"}]


async def test_report_meter_readings_requires_permission(gql: GraphQLClient) -> None:
    # given: a person may not report as e-Maintenance, and the machine credential may not
    # submit as a person
    [remote] = await devices_of(gql, ADMIN, first=1, filter={"eMaintenance": True})
    rows = [{"deviceId": remote.id, "readings": remote.next_values()}]
    token = await _client_token(gql)
    # when
    as_admin = await gql(QUERY_REPORT, {"input": {"rows": rows}}, as_user=ADMIN)
    as_client = await gql(QUERY_SUBMIT, {"input": rows[0]}, token=token)
    # then: neither is in the other's schema (the person's batch input type is shared with
    # submitMeterReadingsBatch, the machine's has no submitMeterReadingsInput either)
    assert as_admin.data is None
    assert as_admin.error_codes == NOT_IN_SCHEMA, as_admin.errors
    assert "reportMeterReadings" not in fields_of(ADMIN, "Mutation")
    assert as_client.data is None
    assert set(as_client.error_codes) == set(NOT_IN_SCHEMA), as_client.errors
    # then: nothing was stored
    latest = await latest_of(gql, remote.id)
    assert {m: v[:2] if v else None for m, v in latest.items()} == {
        m: (v[0].isoformat(), v[1]) if v else None for m, v in remote.latest.items()
    }
