"""The tickets list (scoped like devices, filtered, keyset-paged), Device.tickets,
Device.openTicketCount, Account.tickets, and node lookups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core import clock
from tests.audiences import fields_of, only_known
from tests.conftest import StatementCounter
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.tickets.support import covered_device, create_incident

ADMIN = "admin@acme.example"
ADMIN_FR = "admin.fr@acme.example"
AGENT = "agent@vendor.example"
DEVICE_MANAGER = "devices@acme.example"
STOCK_MANAGER = "stock@acme.example"
DEVICE_STOCK_MANAGER = "devstock@acme.example"
KNOWLEDGE_USER = "kb@acme.example"
GLOBEX = "admin@globex.example"

QUERY_TICKETS = """
query Tickets($first: Int, $after: String, $filter: TicketFilter) {
  tickets(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id number type status createdAt slaState responseDueAt device { id } account { name } }
  }
}
"""

QUERY_DEVICE_TICKETS = """
query DeviceTickets($first: Int) {
  devices(first: $first) {
    nodes { id openTicketCount tickets(first: 3) { number status } }
  }
}
"""

QUERY_ACCOUNT_TICKETS = """
query { accounts(first: 10) { nodes { name tickets(first: 30) { totalCount nodes { account { name } } } } } }
"""


async def all_tickets(gql: GraphQLClient, user: str, filter: dict | None = None) -> list[dict]:
    seen: list[dict] = []
    after = None
    while True:
        result = await gql(
            QUERY_TICKETS, {"first": 25, "after": after, "filter": filter}, as_user=user
        )
        assert not result.errors, result.errors
        page = result.data["tickets"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_agent_pages_through_all_tickets_newest_first(gql: GraphQLClient) -> None:
    # when
    tickets = await all_tickets(gql, AGENT)
    # then
    assert len(tickets) == 60
    assert len({t["id"] for t in tickets}) == 60
    created = [t["createdAt"] for t in tickets]
    assert created == sorted(created, reverse=True)


async def test_customers_see_only_their_tickets(gql: GraphQLClient) -> None:
    # when
    globex = await all_tickets(gql, GLOBEX)
    acme = await all_tickets(gql, ADMIN)
    france = await all_tickets(gql, ADMIN_FR)
    # then
    assert globex and acme
    assert {t["account"]["name"] for t in globex} == {"Globex Corporation"}
    assert "Globex Corporation" not in {t["account"]["name"] for t in acme}
    assert {t["account"]["name"] for t in france} <= {"Acme France", "Acme France Sud"}
    assert len(acme) + len(globex) == 60


async def test_device_manager_sees_tickets_of_assigned_devices_only(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, DEVICE_MANAGER)
    mine = await create_incident(gql, DEVICE_MANAGER, device["id"])
    # when
    tickets = await all_tickets(gql, DEVICE_MANAGER)
    # then
    assert mine["id"] in {t["id"] for t in tickets}
    assert all(t["device"] is not None for t in tickets)
    assert not any(t["type"] == "ACCOUNT_QUERY" for t in tickets)


async def test_tickets_list_requires_permission(gql: GraphQLClient) -> None:
    # when: a stock manager and a knowledge user hold VIEW_TICKETS nowhere
    stock = await gql(QUERY_TICKETS, {"first": 5}, as_user=STOCK_MANAGER)
    knowledge = await gql(QUERY_TICKETS, {"first": 5}, as_user=KNOWLEDGE_USER)
    anonymous = await gql(QUERY_TICKETS, {"first": 5})
    # then: the list (nor its filter type) is not in their schemas at all
    for user, result in ((STOCK_MANAGER, stock), (KNOWLEDGE_USER, knowledge)):
        assert result.data is None, user
        assert set(result.error_codes) == set(NOT_IN_SCHEMA), (user, result.errors)
        assert "tickets" not in fields_of(user, "Query"), user
    assert anonymous.data is None
    assert anonymous.error_codes == ["UNAUTHENTICATED"]
    assert "path" not in anonymous.errors[0]


@pytest.mark.dates
async def test_filters(gql: GraphQLClient) -> None:
    # given
    device = await covered_device(gql, ADMIN)
    ticket = await create_incident(gql, ADMIN, device["id"], summary="Grinding noise xyzzy")
    now = clock.now()
    # when
    by_search = await all_tickets(gql, ADMIN, {"search": "XYZZY"})
    by_number = await all_tickets(gql, ADMIN, {"search": ticket["number"]})
    by_device = await all_tickets(gql, ADMIN, {"deviceIds": [device["id"]]})
    by_status = await all_tickets(gql, AGENT, {"statuses": ["CLOSED", "CANCELLED"]})
    by_type = await all_tickets(gql, AGENT, {"types": ["ACCOUNT_QUERY"]})
    recent = await all_tickets(
        gql, ADMIN, {"createdAfter": (now - timedelta(minutes=5)).isoformat()}
    )
    older = await all_tickets(
        gql, ADMIN, {"createdBefore": (now - timedelta(minutes=5)).isoformat()}
    )
    # then
    assert [t["id"] for t in by_search] == [ticket["id"]]
    assert [t["id"] for t in by_number] == [ticket["id"]]
    assert ticket["id"] in {t["id"] for t in by_device}
    assert all(t["device"]["id"] == device["id"] for t in by_device)
    assert by_status and {t["status"] for t in by_status} == {"CLOSED", "CANCELLED"}
    assert by_type and {t["type"] for t in by_type} == {"ACCOUNT_QUERY"}
    assert [t["id"] for t in recent] == [ticket["id"]]
    assert ticket["id"] not in {t["id"] for t in older}


async def test_account_filter_includes_sub_accounts(gql: GraphQLClient) -> None:
    # given
    accounts = await gql("query { accounts(first: 20) { nodes { id name } } }", as_user=AGENT)
    france = next(a["id"] for a in accounts.data["accounts"]["nodes"] if a["name"] == "Acme France")
    # when
    tickets = await all_tickets(gql, AGENT, {"accountIds": [france]})
    # then
    assert tickets
    assert {t["account"]["name"] for t in tickets} <= {"Acme France", "Acme France Sud"}


@pytest.mark.dates
async def test_sla_filter_agrees_with_the_field(gql: GraphQLClient) -> None:
    # given
    everything = await all_tickets(gql, AGENT)
    # when
    by_state = {
        state: await all_tickets(gql, AGENT, {"slaState": state})
        for state in ("ON_TRACK", "AT_RISK", "BREACHED", "MET")
    }
    # then: each filter returns exactly the tickets whose field says so
    for state, tickets in by_state.items():
        expected = {t["id"] for t in everything if t["slaState"] == state}
        assert {t["id"] for t in tickets} == expected, state
    assert by_state["MET"] or by_state["BREACHED"]


async def test_device_ticket_figures_cost_the_same_for_any_page_size(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql(QUERY_DEVICE_TICKETS, {"first": 1}, as_user=AGENT)  # warm the token cache
    # when
    small, small_count = await statements.of(gql(QUERY_DEVICE_TICKETS, {"first": 5}, as_user=AGENT))
    large, large_count = await statements.of(
        gql(QUERY_DEVICE_TICKETS, {"first": 60}, as_user=AGENT)
    )
    # then
    assert not small.errors and not large.errors, (small.errors, large.errors)
    assert small_count == large_count
    nodes = large.data["devices"]["nodes"]
    assert sum(n["openTicketCount"] for n in nodes) > 0
    for node in nodes:
        assert len(node["tickets"]) <= 3
        open_shown = [
            t
            for t in node["tickets"]
            if t["status"] in ("NEW", "ASSIGNED", "IN_PROGRESS", "ON_HOLD")
        ]
        assert len(open_shown) <= node["openTicketCount"]


async def test_tickets_page_costs_a_fixed_number_of_statements(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql(QUERY_TICKETS, {"first": 1}, as_user=ADMIN)
    # when
    _, small = await statements.of(gql(QUERY_TICKETS, {"first": 5}, as_user=ADMIN))
    _, large = await statements.of(gql(QUERY_TICKETS, {"first": 30}, as_user=ADMIN))
    # then
    assert small == large


async def test_device_tickets_require_permission(gql: GraphQLClient) -> None:
    # given: the stock manager sees supplied devices, not their tickets (VIEW_TICKETS nowhere);
    # the device-and-stock manager holds it on its assigned devices, not on those its stock
    # location supplies
    query = "query {{ devices(first: {first}) {{ nodes {{ {fields} }} }} }}"
    fields = "serialNumber\nopenTicketCount"
    # when
    result = await gql(query.format(first=3, fields=fields), as_user=STOCK_MANAGER)
    known = await gql(
        query.format(first=3, fields=only_known(STOCK_MANAGER, "Device", fields)),
        as_user=STOCK_MANAGER,
    )
    mixed = await gql(query.format(first=100, fields=fields), as_user=DEVICE_STOCK_MANAGER)
    # then: not in the stock manager's schema, its devices are
    assert result.data is None
    assert result.error_codes == NOT_IN_SCHEMA, result.errors
    assert {"openTicketCount", "tickets"}.isdisjoint(fields_of(STOCK_MANAGER, "Device"))
    assert not known.errors, known.errors
    nodes = known.data["devices"]["nodes"]
    assert nodes and all(set(n) == {"serialNumber"} for n in nodes)
    # then: the device-and-stock manager is refused them per device
    nodes = mixed.data["devices"]["nodes"]
    assert set(mixed.error_codes) == {"FORBIDDEN"}
    refused = {e["path"][2] for e in mixed.errors}
    assert {e["path"][-1] for e in mixed.errors} == {"openTicketCount"}
    assert all(nodes[i]["openTicketCount"] is None for i in refused)
    assert any(n["openTicketCount"] is not None for n in nodes), "its assigned devices answer"


async def test_account_tickets_stay_within_the_account(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_ACCOUNT_TICKETS, as_user=ADMIN)
    # then
    assert not result.errors, result.errors
    for account in result.data["accounts"]["nodes"]:
        names = {t["account"]["name"] for t in account["tickets"]["nodes"]}
        if account["name"] == "Acme France":
            assert names <= {"Acme France", "Acme France Sud"}
        elif account["name"] != "Acme Group":
            assert names <= {account["name"]}


async def test_node_lookup_of_an_invisible_ticket_is_null(gql: GraphQLClient) -> None:
    # given
    globex = await all_tickets(gql, GLOBEX)
    # when
    result = await gql(
        "query($id: ID!) { node(id: $id) { id } }", {"id": globex[0]["id"]}, as_user=ADMIN
    )
    # then
    assert result.data["node"] is None


QUERY_TICKET_DETAILS = """
query Details($first: Int) {
  tickets(first: $first) {
    nodes { number comments { body } history { kind comment { body } } device { serialNumber } }
  }
}
"""


async def test_comments_and_history_cost_the_same_for_any_page_size(
    gql: GraphQLClient, statements: StatementCounter
) -> None:
    # given
    await gql(QUERY_TICKET_DETAILS, {"first": 1}, as_user=AGENT)
    # when
    small, small_count = await statements.of(gql(QUERY_TICKET_DETAILS, {"first": 3}, as_user=AGENT))
    large, large_count = await statements.of(
        gql(QUERY_TICKET_DETAILS, {"first": 25}, as_user=AGENT)
    )
    # then
    assert not small.errors and not large.errors, (small.errors, large.errors)
    assert small_count == large_count
    assert all(node["history"] for node in large.data["tickets"]["nodes"])
