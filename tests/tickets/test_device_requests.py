"""requestDeviceMove / requestDeviceRemoval: MOVE and REMOVAL tickets that mark the device
pending (never deleting it)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock
from tests.audiences import fields_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.tickets.support import UPDATE_STATUS, covered_device, devices_of, uncovered_device

pytestmark = pytest.mark.dates  # outcomes depend on the date: make test-dates

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"
DEVICE_MANAGER = "devices@acme.example"
KNOWLEDGE_USER = "kb@acme.example"
STOCK_MANAGER = "stock@acme.example"
GLOBEX = "admin@globex.example"

REQUEST_MOVE = """
mutation Move($input: RequestDeviceMoveInput!) {
  requestDeviceMove(input: $input) {
    ticket { id number type status version targetLocation wantedDate targetSite { id name } }
    device { id status }
    userErrors { field code }
  }
}
"""

REQUEST_REMOVAL = """
mutation Removal($input: RequestDeviceRemovalInput!) {
  requestDeviceRemoval(input: $input) {
    ticket { id number type status version removalReason wantedDate }
    device { id status }
    userErrors { field code }
  }
}
"""

QUERY_DEVICE = """
query Device($id: ID!) { node(id: $id) { ... on Device { id status locationDescription site { id } } } }
"""

QUERY_SITES = """
query { accounts(first: 20) { nodes { name sites { id name } } } }
"""


def days_ahead(days: int) -> str:
    """A date `days` from today (at call time, so a frozen clock counts; two days clear of any
    site's local date)."""
    return (clock.utc_today() + timedelta(days=days)).isoformat()


async def test_move_request_marks_the_device_move_pending(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN, account="Acme France")
    # when
    result = await gql(
        REQUEST_MOVE,
        {
            "input": {
                "deviceId": device["id"],
                "targetLocation": "Floor 3, room 301",
                "wantedDate": days_ahead(2),
            }
        },
        as_user=ADMIN,
    )
    # then
    payload = result.data["requestDeviceMove"]
    assert payload["userErrors"] == []
    assert payload["ticket"]["type"] == "MOVE"
    assert payload["ticket"]["targetLocation"] == "Floor 3, room 301"
    assert payload["ticket"]["wantedDate"] == days_ahead(2)
    assert payload["ticket"]["targetSite"]["id"] == device["site"]["id"]
    assert payload["device"]["status"] == "MOVE_PENDING"


async def test_completed_move_puts_the_device_at_its_new_place(gql: GraphQLClient) -> None:
    # given: a move to another site of the same account
    device = await covered_device(gql, ADMIN, account="Acme France")
    sites = await gql(QUERY_SITES, as_user=ADMIN)
    france = next(a for a in sites.data["accounts"]["nodes"] if a["name"] == "Acme France")
    target = next(s for s in france["sites"] if s["id"] != device["site"]["id"])
    moved = await gql(
        REQUEST_MOVE,
        {
            "input": {
                "deviceId": device["id"],
                "targetSiteId": target["id"],
                "targetLocation": "Reception",
                "wantedDate": days_ahead(2),
            }
        },
        as_user=ADMIN,
    )
    ticket = moved.data["requestDeviceMove"]["ticket"]
    # when: the vendor resolves it and the customer confirms
    for user, status in ((AGENT, "IN_PROGRESS"), (AGENT, "RESOLVED"), (ADMIN, "CLOSED")):
        result = await gql(
            UPDATE_STATUS,
            {"input": {"ticketId": ticket["id"], "status": status, "version": ticket["version"]}},
            as_user=user,
        )
        assert result.data["updateTicketStatus"]["userErrors"] == []
        ticket = result.data["updateTicketStatus"]["ticket"]
    # then
    after = await gql(QUERY_DEVICE, {"id": device["id"]}, as_user=ADMIN)
    assert after.data["node"]["status"] == "ACTIVE"
    assert after.data["node"]["site"]["id"] == target["id"]
    assert after.data["node"]["locationDescription"] == "Reception"


async def test_move_to_a_site_of_another_account_is_refused(gql: GraphQLClient) -> None:
    # given: a Globex site (the agent sees it)
    device = await covered_device(gql, ADMIN, account="Acme France")
    sites = await gql(QUERY_SITES, as_user=AGENT)
    globex = next(a for a in sites.data["accounts"]["nodes"] if a["name"].startswith("Globex"))
    # when
    result = await gql(
        REQUEST_MOVE,
        {
            "input": {
                "deviceId": device["id"],
                "targetSiteId": globex["sites"][0]["id"],
                "targetLocation": "Lobby",
                "wantedDate": days_ahead(2),
            }
        },
        as_user=ADMIN,
    )
    # then
    assert [e["code"] for e in result.data["requestDeviceMove"]["userErrors"]] == [
        "TARGET_SITE_NOT_FOUND"
    ]


async def test_removal_request_keeps_the_device(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, DEVICE_MANAGER)
    # when
    result = await gql(
        REQUEST_REMOVAL,
        {
            "input": {
                "deviceId": device["id"],
                "wantedDate": days_ahead(2),
                "reason": "Office closing.",
            }
        },
        as_user=DEVICE_MANAGER,
    )
    again = await gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "Twice"}},
        as_user=DEVICE_MANAGER,
    )
    # then
    payload = result.data["requestDeviceRemoval"]
    assert payload["userErrors"] == []
    assert payload["ticket"]["type"] == "REMOVAL"
    assert payload["ticket"]["removalReason"] == "Office closing."
    assert payload["device"]["status"] == "REMOVAL_PENDING"
    still_there = await gql(QUERY_DEVICE, {"id": device["id"]}, as_user=DEVICE_MANAGER)
    assert still_there.data["node"]["status"] == "REMOVAL_PENDING"
    assert [e["code"] for e in again.data["requestDeviceRemoval"]["userErrors"]] == [
        "DEVICE_CHANGE_PENDING"
    ]


async def test_cancelled_removal_puts_the_device_back(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    result = await gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "Not needed"}},
        as_user=ADMIN,
    )
    ticket = result.data["requestDeviceRemoval"]["ticket"]
    # when
    cancelled = await gql(
        UPDATE_STATUS,
        {"input": {"ticketId": ticket["id"], "status": "CANCELLED", "version": 1}},
        as_user=ADMIN,
    )
    # then
    assert cancelled.data["updateTicketStatus"]["userErrors"] == []
    after = await gql(QUERY_DEVICE, {"id": device["id"]}, as_user=ADMIN)
    assert after.data["node"]["status"] == "ACTIVE"


async def test_wanted_date_in_the_past_is_refused(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    # when
    result = await gql(
        REQUEST_REMOVAL,
        {
            "input": {
                "deviceId": device["id"],
                "wantedDate": days_ahead(-3),
                "reason": "Old",
            }
        },
        as_user=ADMIN,
    )
    # then
    assert [e["code"] for e in result.data["requestDeviceRemoval"]["userErrors"]] == [
        "WANTED_DATE_IN_PAST"
    ]


async def test_device_request_needs_an_active_contract(gql: GraphQLClient) -> None:
    # given
    device = await uncovered_device(gql, ADMIN)
    # when
    result = await gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "Gone"}},
        as_user=ADMIN,
    )
    # then
    payload = result.data["requestDeviceRemoval"]
    assert [e["code"] for e in payload["userErrors"]] == ["CONTRACT_INACTIVE"]
    after = await gql(QUERY_DEVICE, {"id": device["id"]}, as_user=ADMIN)
    assert after.data["node"]["status"] == device["status"]


async def test_device_requests_require_permission(gql: GraphQLClient) -> None:
    # given: a stock manager sees supplied devices but may not ask for changes (holds
    # REQUEST_DEVICE_CHANGES nowhere, nor does a knowledge user); another customer's
    # administrator may, on its own devices only
    device = (await devices_of(gql, STOCK_MANAGER))[0]
    # when
    move = await gql(
        REQUEST_MOVE,
        {"input": {"deviceId": device["id"], "targetLocation": "x", "wantedDate": days_ahead(2)}},
        as_user=STOCK_MANAGER,
    )
    removal = await gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "x"}},
        as_user=STOCK_MANAGER,
    )
    as_kb = await gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "x"}},
        as_user=KNOWLEDGE_USER,
    )
    hidden = await gql(
        REQUEST_REMOVAL,
        {"input": {"deviceId": device["id"], "wantedDate": days_ahead(2), "reason": "x"}},
        as_user=GLOBEX,
    )
    # then: neither mutation (nor its input type) is in the schemas of who holds it nowhere
    for user, result in ((STOCK_MANAGER, move), (STOCK_MANAGER, removal), (KNOWLEDGE_USER, as_kb)):
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
    for user in (STOCK_MANAGER, KNOWLEDGE_USER):
        assert {"requestDeviceMove", "requestDeviceRemoval"}.isdisjoint(
            fields_of(user, "Mutation")
        ), user
    # then: a device out of sight answers like a missing one
    assert hidden.error_codes == ["NOT_FOUND"]
    # then: the device is not pending anything
    after = await gql(QUERY_DEVICE, {"id": device["id"]}, as_user=ADMIN)
    assert after.data["node"]["status"] == device["status"]
