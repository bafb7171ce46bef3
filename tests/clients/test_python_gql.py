"""The Python `gql` client against a real uvicorn server: queries and mutations over HTTP
(httpx transport), and Subscription.ticketUpdated over graphql-transport-ws (websockets
transport) with the token in connection_init or on the upgrade request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport

from demo.fleet import DEMO_PASSWORD
from tests.clients.conftest import ADMIN, AGENT, Server
from tests.graphql import GraphQLClient
from tests.tickets.support import ADD_COMMENT, covered_device, create_incident

QUERY_LOGIN = """
mutation Login($input: LoginInput!) {
  login(input: $input) { accessToken userErrors { code } }
}
"""

QUERY_DEVICES = """
query Devices {
  devices(first: 100) { totalCount nodes { id status contract { active } } }
}
"""

QUERY_CREATE_TICKET = """
mutation Create($input: CreateTicketInput!) {
  createTicket(input: $input) {
    ticket { id number status summary }
    userErrors { code }
  }
}
"""

QUERY_TICKET = "query Ticket($id: ID!) { node(id: $id) { ... on Ticket { id summary } } }"

SUBSCRIBE = """
subscription Updates($ticketId: ID) {
  ticketUpdated(ticketId: $ticketId) { kind ticketNumber comment { body internal } }
}
"""


async def test_queries_and_mutations_over_http(server: Server) -> None:
    # given
    async with Client(transport=HTTPXAsyncTransport(url=server.http_url)) as anonymous:
        login = await anonymous.execute(
            GraphQLRequest(
                QUERY_LOGIN,
                variable_values={"input": {"email": ADMIN, "password": DEMO_PASSWORD}},
            )
        )
    assert login["login"]["userErrors"] == []
    headers = {"Authorization": f"Bearer {login['login']['accessToken']}"}
    transport = HTTPXAsyncTransport(url=server.http_url, headers=headers)
    async with Client(transport=transport) as session:
        # when
        devices = (await session.execute(GraphQLRequest(QUERY_DEVICES)))["devices"]
        device = next(
            d
            for d in devices["nodes"]
            if d["status"] == "ACTIVE" and d["contract"] and d["contract"]["active"]
        )
        summary = f"Python gql {uuid.uuid4().hex[:6]}"
        created = await session.execute(
            GraphQLRequest(
                QUERY_CREATE_TICKET,
                variable_values={
                    "input": {
                        "type": "INCIDENT",
                        "deviceId": device["id"],
                        "summary": summary,
                        "symptomCategory": "NOISE",
                    }
                },
            )
        )
        ticket = created["createTicket"]["ticket"]
        read_back = await session.execute(
            GraphQLRequest(QUERY_TICKET, variable_values={"id": ticket["id"]})
        )
    # then
    assert devices["totalCount"] >= len(devices["nodes"]) > 0
    assert created["createTicket"]["userErrors"] == []
    assert ticket["status"] == "NEW" and ticket["summary"] == summary
    assert read_back["node"] == {"id": ticket["id"], "summary": summary}


async def first_event(
    session: AsyncClientSession, ticket_id: str, trigger: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    """Subscribes, then triggers events until the first one arrives (the protocol does not
    say when the server has registered the subscription, so one trigger could come too early)."""
    request = GraphQLRequest(SUBSCRIBE, variable_values={"ticketId": ticket_id})
    events: AsyncIterator[dict[str, Any]] = session.subscribe(request)
    receiving = asyncio.ensure_future(anext(events))
    try:
        for attempt in range(10):
            await trigger(attempt)
            done, _ = await asyncio.wait({receiving}, timeout=1)
            if done:
                return receiving.result()["ticketUpdated"]  # type: ignore[no-any-return]
        raise AssertionError("no event within 10 triggers")
    finally:
        receiving.cancel()
        await events.aclose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("token_in", ["connection_init", "upgrade_request"])
async def test_subscription_receives_a_comment_made_over_http(
    server: Server, token_in: str
) -> None:
    # given: a ticket of the customer's, and its administrator subscribed to it
    async with httpx.AsyncClient(base_url=f"http://{server.address}", timeout=20) as http:
        api = GraphQLClient(http)
        device = await covered_device(api, ADMIN)
        ticket = await create_incident(api, ADMIN, device["id"])
        token = await api.token_for(ADMIN)

        async def agent_answers(attempt: int) -> None:
            result = await api(
                ADD_COMMENT,
                {"input": {"ticketId": ticket["id"], "body": f"On our way ({attempt})."}},
                as_user=AGENT,
            )
            assert result.data["addTicketComment"]["userErrors"] == [], result.body

        if token_in == "connection_init":
            transport = WebsocketsTransport(
                url=server.ws_url,
                init_payload={"token": token},
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            )
        else:
            transport = WebsocketsTransport(
                url=server.ws_url,
                headers={"Authorization": f"Bearer {token}"},
                subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            )
        async with Client(transport=transport) as session:
            # when
            event = await first_event(session, ticket["id"], agent_answers)
    # then
    assert event["kind"] == "COMMENTED"
    assert event["ticketNumber"] == ticket["number"]
    assert event["comment"]["internal"] is False
    assert event["comment"]["body"].startswith("On our way (")
