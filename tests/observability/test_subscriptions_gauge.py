"""portal_websocket_subscriptions counts the subscriptions open over WebSocket."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect

from app import create_app
from models.session import create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient
from tests.servers import serving

TOKEN = "scrape-secret-0123456789"
SUBSCRIPTION = "subscription { ticketUpdated { kind } }"


async def _open(http: httpx.AsyncClient) -> float:
    response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "portal_websocket_subscriptions":
                return sample.value
    raise AssertionError("no portal_websocket_subscriptions")


async def _until(http: httpx.AsyncClient, value: float) -> float:
    for _ in range(50):
        seen = await _open(http)
        if seen == value:
            break
        await asyncio.sleep(0.05)
    return seen


async def test_the_gauge_follows_subscriptions(
    settings: Settings, engine: AsyncEngine, gql: GraphQLClient
) -> None:
    # given: an app on pooled connections (it writes nothing): the scrape's session and the
    # subscriptions' would otherwise share the test's one connection at the same time
    token = await gql.token_for("admin@acme.example")
    app = create_app(
        replace(settings, metrics_token=TOKEN), sessionmaker=create_sessionmaker(engine)
    )
    async with serving(app) as address, httpx.AsyncClient(base_url=f"http://{address}") as http:
        before = await _open(http)
        async with connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            # when
            for op_id in ("1", "2"):
                await ws.send(
                    json.dumps(
                        {"id": op_id, "type": "subscribe", "payload": {"query": SUBSCRIPTION}}
                    )
                )
            during = await _until(http, before + 2)
            await ws.send(json.dumps({"id": "1", "type": "complete"}))
            after_one = await _until(http, before + 1)
        after_close = await _until(http, before)
    # then
    assert (during, after_one, after_close) == (before + 2, before + 1, before)
