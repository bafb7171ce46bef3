"""updateTicketStatus and addTicketComment: transitions per side, versions, history, internal
notes, the response clock on hold, mails."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core import clock
from core.ids import parse_global_id
from models import OutboxMessage, Ticket
from schema.root import schema
from tests.audiences import audience_of
from tests.graphql import NOT_IN_SCHEMA, GraphQLClient
from tests.tickets.support import ADD_COMMENT, UPDATE_STATUS, covered_device, create_incident

ADMIN = "admin@acme.example"
ADMIN_FR = "admin.fr@acme.example"
AGENT = "agent@vendor.example"
GLOBEX = "admin@globex.example"

QUERY_TICKET = """
query Ticket($id: ID!) {
  node(id: $id) {
    ... on Ticket {
      id status version slaState responseDueAt firstRespondedAt
      comments { body internal byAgent authorName }
      history { kind fromStatus toStatus actorName byAgent internal comment { body } }
    }
  }
}
"""


async def move(
    gql: GraphQLClient, user: str, ticket: dict, status: str, comment: str | None = None
) -> dict:
    result = await gql(
        UPDATE_STATUS,
        {
            "input": {
                "ticketId": ticket["id"],
                "status": status,
                "version": ticket["version"],
                "comment": comment,
            }
        },
        as_user=user,
    )
    assert not result.errors, result.errors
    return result.data["updateTicketStatus"]  # type: ignore[no-any-return]


async def new_ticket(gql: GraphQLClient, user: str = ADMIN) -> dict:
    device = await covered_device(gql, user)
    return await create_incident(gql, user, device["id"])


@pytest.mark.dates
async def test_agent_works_a_ticket_through_its_lifecycle(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    # when
    for status in ("ASSIGNED", "IN_PROGRESS", "ON_HOLD", "IN_PROGRESS", "RESOLVED"):
        payload = await move(gql, AGENT, ticket, status)
        assert payload["userErrors"] == [], (status, payload["userErrors"])
        ticket = payload["ticket"]
    closed = await move(gql, ADMIN, ticket, "CLOSED")
    # then
    assert closed["userErrors"] == []
    assert closed["ticket"]["status"] == "CLOSED"
    assert closed["ticket"]["version"] == 7
    result = await gql(QUERY_TICKET, {"id": ticket["id"]}, as_user=ADMIN)
    history = result.data["node"]["history"]
    assert [(h["kind"], h["fromStatus"], h["toStatus"]) for h in history] == [
        ("CREATED", None, "NEW"),
        ("STATUS_CHANGED", "NEW", "ASSIGNED"),
        ("STATUS_CHANGED", "ASSIGNED", "IN_PROGRESS"),
        ("STATUS_CHANGED", "IN_PROGRESS", "ON_HOLD"),
        ("STATUS_CHANGED", "ON_HOLD", "IN_PROGRESS"),
        ("STATUS_CHANGED", "IN_PROGRESS", "RESOLVED"),
        ("STATUS_CHANGED", "RESOLVED", "CLOSED"),
    ]
    assert history[1]["actorName"] == "Vera Agent" and history[1]["byAgent"]
    assert history[-1]["actorName"] == "Alice Admin" and not history[-1]["byAgent"]
    assert result.data["node"]["slaState"] == "MET"


async def test_stale_version_is_refused(gql: GraphQLClient) -> None:
    # given: the agent moves the ticket on
    ticket = await new_ticket(gql)
    assert (await move(gql, AGENT, ticket, "ASSIGNED"))["userErrors"] == []
    # when: the customer acts on the version it saw
    payload = await move(gql, ADMIN, ticket, "CANCELLED")
    # then
    assert payload["ticket"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["STALE_VERSION"]


async def test_customer_cannot_move_tickets_like_an_agent(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    # when
    payload = await move(gql, ADMIN, ticket, "IN_PROGRESS")
    # then
    assert [e["code"] for e in payload["userErrors"]] == ["TICKET_TRANSITION_NOT_ALLOWED"]


async def test_customer_cancels_own_open_ticket(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    ticket = await new_ticket(gql, ADMIN_FR)
    # when
    payload = await move(gql, ADMIN_FR, ticket, "CANCELLED", comment="Fixed it ourselves.")
    # then
    assert payload["userErrors"] == []
    assert payload["ticket"]["status"] == "CANCELLED"
    mails = (
        await connection.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "mail.ticket_status_changed")
        )
    ).all()
    assert any(
        m["params"]["number"] == ticket["number"] and m["params"]["status"] == "annulé"
        for m in mails
    )


async def test_customer_cannot_cancel_someone_elses_ticket(gql: GraphQLClient) -> None:
    # given: the French administrator's ticket, seen by the group administrator
    ticket = await new_ticket(gql, ADMIN_FR)
    # when
    payload = await move(gql, ADMIN, ticket, "CANCELLED")
    # then
    assert [e["code"] for e in payload["userErrors"]] == ["TICKET_TRANSITION_NOT_ALLOWED"]


async def test_customer_reopens_a_resolved_ticket(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    for status in ("IN_PROGRESS", "RESOLVED"):
        ticket = (await move(gql, AGENT, ticket, status))["ticket"]
    # when
    payload = await move(gql, ADMIN, ticket, "IN_PROGRESS", comment="Still jams.")
    # then
    assert payload["userErrors"] == []
    assert payload["ticket"]["status"] == "IN_PROGRESS"


async def test_update_status_requires_permission(gql: GraphQLClient) -> None:
    # given: a ticket Globex cannot see
    ticket = await new_ticket(gql)
    # when
    payload = await gql(
        UPDATE_STATUS,
        {"input": {"ticketId": ticket["id"], "status": "CANCELLED", "version": 1}},
        as_user=GLOBEX,
    )
    # then: it does not exist for Globex
    assert payload.error_codes == ["NOT_FOUND"]


async def test_internal_notes_never_reach_customers(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    public = await gql(
        ADD_COMMENT,
        {"input": {"ticketId": ticket["id"], "body": "We are on it."}},
        as_user=AGENT,
    )
    internal = await gql(
        ADD_COMMENT,
        {"input": {"ticketId": ticket["id"], "body": "Credit on watch.", "internal": True}},
        as_user=AGENT,
    )
    assert public.data["addTicketComment"]["userErrors"] == []
    assert internal.data["addTicketComment"]["comment"]["internal"] is True
    # when
    customer = await gql(QUERY_TICKET, {"id": ticket["id"]}, as_user=ADMIN)
    agent = await gql(QUERY_TICKET, {"id": ticket["id"]}, as_user=AGENT)
    # then
    customer_bodies = [c["body"] for c in customer.data["node"]["comments"]]
    customer_history = [
        h["comment"]["body"] for h in customer.data["node"]["history"] if h["comment"]
    ]
    assert customer_bodies == ["We are on it."]
    assert customer_history == ["We are on it."]
    assert not any(h["internal"] for h in customer.data["node"]["history"])
    assert [c["body"] for c in agent.data["node"]["comments"]] == [
        "We are on it.",
        "Credit on watch.",
    ]
    # the agent's public comment is the first response
    assert customer.data["node"]["firstRespondedAt"] is not None


async def test_seeded_internal_notes_are_hidden_from_customers_in_lists(gql: GraphQLClient) -> None:
    # when
    result = await gql(
        "query { tickets(first: 30) { nodes { comments { internal body } history { internal } } } }",
        as_user=ADMIN,
    )
    # then
    nodes = result.data["tickets"]["nodes"]
    assert nodes
    assert not any(c["internal"] for n in nodes for c in n["comments"])
    assert not any(h["internal"] for n in nodes for h in n["history"])


ADD_INTERNAL_COMMENT = """
mutation Comment($ticketId: ID!) {
  addTicketComment(input: {ticketId: $ticketId, body: "psst", internal: true}) { comment { id } }
}
"""


async def test_internal_comment_requires_permission(gql: GraphQLClient) -> None:
    # given: a customer administrator, who may comment but holds VIEW_INTERNAL_NOTES nowhere
    ticket = await new_ticket(gql)
    own_schema = schema.for_audience(audience_of(ADMIN))._schema
    comment_input: Any = own_schema.get_type("AddTicketCommentInput")
    # when: `internal` in the variables, and named in the document
    result = await gql(
        ADD_COMMENT,
        {"input": {"ticketId": ticket["id"], "body": "psst", "internal": True}},
        as_user=ADMIN,
    )
    named = await gql(ADD_INTERNAL_COMMENT, {"ticketId": ticket["id"]}, as_user=ADMIN)
    # then: the input field is not in its schema: the variables are refused as carrying an
    # unknown field, the document as naming one; nothing runs
    assert result.data is None
    assert result.error_codes == ["BAD_USER_INPUT"], result.errors
    assert "unknown field 'internal'" in result.errors[0]["message"]
    assert named.data is None
    assert named.error_codes == NOT_IN_SCHEMA, named.errors
    assert "internal" not in comment_input.fields
    assert "body" in comment_input.fields
    seen = await gql(QUERY_TICKET, {"id": ticket["id"]}, as_user=AGENT)
    assert "psst" not in [c["body"] for c in seen.data["node"]["comments"]]


async def test_customer_comments_on_own_ticket(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    # when
    result = await gql(
        ADD_COMMENT, {"input": {"ticketId": ticket["id"], "body": "Tray 3 too."}}, as_user=ADMIN
    )
    # then
    comment = result.data["addTicketComment"]["comment"]
    assert comment == {
        "id": comment["id"],
        "body": "Tray 3 too.",
        "internal": False,
        "byAgent": False,
        "authorName": "Alice Admin",
    }


async def test_empty_comment_is_a_user_error(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    # when
    result = await gql(
        ADD_COMMENT, {"input": {"ticketId": ticket["id"], "body": "   "}}, as_user=ADMIN
    )
    # then
    assert [e["code"] for e in result.data["addTicketComment"]["userErrors"]] == [
        "TICKET_FIELD_REQUIRED"
    ]


@pytest.mark.dates
async def test_on_hold_stops_the_clock_and_pushes_the_due_time_back(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: a ticket put on hold without an answer, back-dated to a week ago
    ticket = await new_ticket(gql)
    ticket = (await move(gql, AGENT, ticket, "IN_PROGRESS"))["ticket"]
    ticket = (await move(gql, AGENT, ticket, "ON_HOLD"))["ticket"]
    assert ticket["firstRespondedAt"] is None
    frozen = ticket["slaState"]
    assert frozen in ("ON_TRACK", "AT_RISK")
    pk = parse_global_id(ticket["id"])[1]
    since = clock.now() - timedelta(days=7)
    row = (await connection.execute(select(Ticket.details).where(Ticket.id == pk))).scalar_one()
    assert row["slaFrozen"] == frozen
    await connection.execute(
        update(Ticket)
        .where(Ticket.id == pk)
        .values(details={**row, "onHoldSince": since.strftime("%Y-%m-%dT%H:%M:%SZ")})
    )
    due_before = datetime.fromisoformat(ticket["responseDueAt"])
    # when
    payload = await move(gql, AGENT, ticket, "IN_PROGRESS")
    # then: a week on hold holds at least four business days of 9 h (a holiday may fall in it)
    assert payload["userErrors"] == []
    due_after = datetime.fromisoformat(payload["ticket"]["responseDueAt"])
    assert due_after - due_before >= timedelta(days=4)
    seconds = (
        await connection.execute(select(Ticket.on_hold_seconds).where(Ticket.id == pk))
    ).scalar_one()
    assert 4 * 9 * 3600 <= seconds <= 5 * 9 * 3600
    assert payload["ticket"]["slaState"] in ("ON_TRACK", "AT_RISK")


@pytest.mark.dates
async def test_status_change_with_a_comment_is_the_first_response(gql: GraphQLClient) -> None:
    # given
    ticket = await new_ticket(gql)
    # when
    payload = await move(gql, AGENT, ticket, "IN_PROGRESS", comment="Technician booked.")
    # then
    assert payload["ticket"]["firstRespondedAt"] is not None
    assert payload["ticket"]["slaState"] == "MET"


async def test_a_refused_move_names_the_statuses_in_the_readers_language(
    gql: GraphQLClient,
) -> None:
    # given
    ticket = await new_ticket(gql)
    variables = {
        "input": {"ticketId": ticket["id"], "status": "IN_PROGRESS", "version": ticket["version"]}
    }
    # when
    result = await gql(UPDATE_STATUS, variables, as_user=ADMIN, headers={"Accept-Language": "fr"})
    # then
    errors = result.data["updateTicketStatus"]["userErrors"]
    assert [e["code"] for e in errors] == ["TICKET_TRANSITION_NOT_ALLOWED"]
    assert "« nouveau »" in errors[0]["message"] and "« en cours »" in errors[0]["message"]
    assert "IN_PROGRESS" not in errors[0]["message"]
