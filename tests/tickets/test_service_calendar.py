"""The calendar a ticket's response clock runs on (`Ticket.serviceCalendar`): account questions
on their account's main site (its lowest-id site), whatever device the data was seeded from;
device tickets on their device's site."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from core.ids import parse_global_id
from tests.graphql import GraphQLClient
from tests.tickets.support import CREATE_TICKET, devices_of

ADMIN_FR = "admin.fr@acme.example"
AGENT = "agent@vendor.example"

QUERY_SUD = """
query { accounts(first: 50) { nodes { id name sites { id name timeZone } } } }
"""

CREATE_QUESTION = """
mutation Create($input: CreateTicketInput!) {
  createTicket(input: $input) {
    ticket {
      id type responseDueAt
      serviceCalendar { timeZone country site { id name } }
    }
    userErrors { code }
  }
}
"""

QUERY_TICKET = """
query Ticket($id: ID!) {
  node(id: $id) {
    ... on Ticket { id serviceCalendar { timeZone country site { id name } } }
  }
}
"""

QUERY_QUESTIONS = """
query {
  tickets(first: 100, filter: { types: [ACCOUNT_QUERY] }) {
    nodes { account { id } serviceCalendar { timeZone country site { id } } }
  }
}
"""


async def _account(gql: GraphQLClient, name: str) -> dict[str, Any]:
    result = await gql(QUERY_SUD, as_user=AGENT)
    assert not result.errors, result.errors
    return next(a for a in result.data["accounts"]["nodes"] if a["name"] == name)


async def _ask(gql: GraphQLClient, account_id: str, summary: str) -> dict[str, Any]:
    result = await gql(
        CREATE_QUESTION,
        {"input": {"type": "ACCOUNT_QUERY", "accountId": account_id, "summary": summary}},
        as_user=ADMIN_FR,
    )
    assert not result.errors, result.errors
    payload = result.data["createTicket"]
    assert payload["userErrors"] == []
    return payload["ticket"]  # type: ignore[no-any-return]


async def test_account_questions_run_on_the_accounts_main_site(gql: GraphQLClient) -> None:
    # given: Acme France Sud has sites in Paris time and in Martinique time
    sud = await _account(gql, "Acme France Sud")
    sites = sud["sites"]
    assert {s["timeZone"] for s in sites} == {"Europe/Paris", "America/Martinique"}
    main = min(sites, key=lambda s: _pk(s["id"]))  # the lowest-id site
    # when: two questions are asked
    first = await _ask(gql, sud["id"], "Invoice question")
    second = await _ask(gql, sud["id"], "Contract question")
    # then: both run on the main site's calendar, and the field says which
    expected = {
        "timeZone": main["timeZone"],
        "country": "FR",
        "site": {"id": main["id"], "name": main["name"]},
    }
    assert first["serviceCalendar"] == expected
    assert second["serviceCalendar"] == expected
    again = await gql(QUERY_TICKET, {"id": first["id"]}, as_user=ADMIN_FR)
    assert again.data["node"]["serviceCalendar"] == expected


async def test_seeded_account_questions_share_their_accounts_calendar(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_QUESTIONS, as_user=AGENT)
    # then: one calendar per account, whichever device the demo ticket was drawn from
    assert not result.errors, result.errors
    nodes = result.data["tickets"]["nodes"]
    assert nodes
    calendars: dict[str, list[Any]] = defaultdict(list)
    for node in nodes:
        if node["serviceCalendar"] is not None:
            calendars[node["account"]["id"]].append(node["serviceCalendar"])
    assert calendars
    for account_id, found in calendars.items():
        assert all(c == found[0] for c in found), (account_id, found)


async def test_device_ticket_runs_on_its_devices_site(gql: GraphQLClient) -> None:
    # given: a covered device at the Martinique site
    devices = await devices_of(gql, ADMIN_FR)
    device = next(
        d
        for d in devices
        if d["site"]["timeZone"] == "America/Martinique"
        and d["status"] == "ACTIVE"
        and d["contract"] is not None
        and d["contract"]["active"]
    )
    # when
    result = await gql(
        CREATE_TICKET.replace("createdAt", "createdAt serviceCalendar { timeZone site { id } }"),
        {
            "input": {
                "type": "INCIDENT",
                "deviceId": device["id"],
                "summary": "Paper jam",
                "symptomCategory": "PAPER_JAM",
            }
        },
        as_user=ADMIN_FR,
    )
    # then
    assert not result.errors, result.errors
    ticket = result.data["createTicket"]["ticket"]
    assert ticket["serviceCalendar"] == {
        "timeZone": device["site"]["timeZone"],
        "site": {"id": device["site"]["id"]},
    }


def _pk(global_id: str) -> int:
    parsed = parse_global_id(global_id)
    assert parsed is not None
    return parsed[1]
