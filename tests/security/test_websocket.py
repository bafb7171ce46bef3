"""WebSocket protection: the Origin allow-list (cross-site WebSocket hijacking), a cap on
connections per user and on subscriptions per connection. A real uvicorn server in the test's
event loop and a `websockets` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from api.ratelimit import ConnectionCounter
from settings import Settings
from tests.conftest import make_app
from tests.graphql import GraphQLClient
from tests.servers import serving

ADMIN = "admin@acme.example"
PROTOCOL = ["graphql-transport-ws"]
SUBSCRIPTION_TICKETS = "subscription { ticketUpdated { __typename } }"

ServerFactory = Callable[..., AbstractAsyncContextManager[str]]


@pytest.fixture
def server_with(settings: Settings, connection: AsyncConnection) -> ServerFactory:
    @asynccontextmanager
    async def serve(**overrides: Any) -> AsyncIterator[str]:
        async with serving(make_app(replace(settings, **overrides), connection)) as address:
            yield f"ws://{address}/graphql"

    return serve


async def _init(ws: ClientConnection, token: str | None = None) -> str:
    payload = {"authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message["type"]  # type: ignore[no-any-return]


async def test_cross_site_origin_is_rejected(server_with: ServerFactory) -> None:
    # given
    async with server_with(cors_origins=("https://portal.example",)) as url:
        # when
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, subprotocols=PROTOCOL, origin="https://evil.example"):  # type: ignore[arg-type]
                pass
        async with connect(url, subprotocols=PROTOCOL, origin="https://portal.example") as ws:  # type: ignore[arg-type]
            allowed = await _init(ws)
        async with connect(url, subprotocols=PROTOCOL) as ws:  # type: ignore[arg-type]
            no_origin = await _init(ws)
    # then
    assert refused.value.response.status_code == 403
    assert allowed == "connection_ack"
    assert no_origin == "connection_ack"


async def test_connections_per_user_are_capped(
    server_with: ServerFactory, gql: GraphQLClient
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    async with server_with(max_ws_connections_per_user=2) as url:
        async with connect(url, subprotocols=PROTOCOL) as first:  # type: ignore[arg-type]
            assert await _init(first, token) == "connection_ack"
            async with connect(url, subprotocols=PROTOCOL) as second:  # type: ignore[arg-type]
                assert await _init(second, token) == "connection_ack"
                # when
                async with connect(url, subprotocols=PROTOCOL) as third:  # type: ignore[arg-type]
                    with pytest.raises(ConnectionClosed) as closed:
                        await _init(third, token)
        # then: closing connections frees their places
        async with connect(url, subprotocols=PROTOCOL) as again:  # type: ignore[arg-type]
            reopened = await _init(again, token)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert reopened == "connection_ack"


async def test_subscriptions_per_connection_are_capped(
    server_with: ServerFactory, gql: GraphQLClient
) -> None:
    # given
    token = await gql.token_for(ADMIN)
    async with (
        server_with(max_subscriptions_per_connection=1) as url,
        connect(url, subprotocols=PROTOCOL) as ws,  # type: ignore[arg-type]
    ):
        await _init(ws, token)
        for op_id in ("1", "2"):
            await ws.send(
                json.dumps(
                    {
                        "id": op_id,
                        "type": "subscribe",
                        "payload": {"query": SUBSCRIPTION_TICKETS},
                    }
                )
            )
        # when
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    # then
    assert message["id"] == "2" and message["type"] == "error"
    assert message["payload"][0]["message"] == "Subscription limit reached"


async def test_workers_share_connection_counts_through_redis(
    redis: Redis, redis_prefix: str
) -> None:
    # given: two workers' counters on one Redis
    first, second = (ConnectionCounter(redis, prefix=redis_prefix) for _ in range(2))
    # when
    opened = [await first.acquire("user:1", 2), await second.acquire("user:1", 2)]
    refused = await second.acquire("user:1", 2)
    await first.release("user:1")
    reopened = await second.acquire("user:1", 2)
    # then
    assert opened == [True, True]
    assert refused is False
    assert reopened is True
