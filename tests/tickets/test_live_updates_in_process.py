"""Subscription.ticketUpdated with the default in-process broker (no Redis): one uvicorn
server in the test's event loop, requests committing on their own connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from app import create_app
from models.session import create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient
from tests.servers import serving
from tests.tickets.support import (
    ADD_COMMENT,
    committed_writes_removed,
    covered_device,
    create_incident,
)

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"

SUBSCRIBE = """
subscription Updates($ticketId: ID) {
  ticketUpdated(ticketId: $ticketId) { kind internal ticketNumber comment { body } }
}
"""


@pytest.fixture
async def server(engine: AsyncEngine, settings: Settings) -> AsyncIterator[str]:
    app = create_app(replace(settings, redis_url=None), sessionmaker=create_sessionmaker(engine))
    async with committed_writes_removed(engine), serving(app) as address:
        yield address


async def test_in_process_subscriber_gets_public_events_only(server: str) -> None:
    # given
    async with httpx.AsyncClient(base_url=f"http://{server}", timeout=20) as http:
        gql = GraphQLClient(http)
        device = await covered_device(gql, ADMIN)
        ticket = await create_incident(gql, ADMIN, device["id"])
        token = await gql.token_for(ADMIN)
        async with connect(
            f"ws://{server}/graphql",
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        ) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIBE, "variables": {"ticketId": ticket["id"]}},
                    }
                )
            )
            await asyncio.sleep(0.3)
            # when: an internal note, then a public answer
            for body, internal in (("internal only", True), ("public answer", False)):
                result = await gql(
                    ADD_COMMENT,
                    {"input": {"ticketId": ticket["id"], "body": body, "internal": internal}},
                    as_user=AGENT,
                )
                assert result.data["addTicketComment"]["userErrors"] == []
            # then
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message["type"] == "next", message
            event = message["payload"]["data"]["ticketUpdated"]
            assert event == {
                "kind": "COMMENTED",
                "internal": False,
                "ticketNumber": ticket["number"],
                "comment": {"body": "public answer"},
            }
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)
