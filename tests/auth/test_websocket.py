"""WebSocket connections (graphql-transport-ws) authenticate in `connection_init` or with a
bearer token on the upgrade request; every message is a text frame. A real uvicorn server in
the test's event loop and a `websockets` client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from auth.tokens import CLOCK_LEEWAY_SECONDS, TokenService
from settings import Settings
from tests.conftest import make_app
from tests.graphql import GraphQLClient
from tests.servers import serving

QUERY_VIEWER = "query { viewer { authenticated user { email } } }"
QUERY_ACCOUNTS = "query { accounts(first: 10) { totalCount } }"

USER = "admin@acme.example"


@pytest.fixture
async def ws_url(settings: Settings, connection: AsyncConnection) -> AsyncIterator[str]:
    async with serving(make_app(settings, connection)) as address:
        yield f"ws://{address}/graphql"


async def _init(ws: ClientConnection, payload: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return json.loads(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[no-any-return]


async def _run(ws: ClientConnection, query: str, op_id: str = "1") -> dict[str, Any]:
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["id"] == op_id and message["type"] == "next", message
    complete = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert complete == {"id": op_id, "type": "complete"}
    return message["payload"]  # type: ignore[no-any-return]


async def _refused(ws: ClientConnection, query: str, op_id: str) -> list[dict[str, Any]]:
    """An operation refused before it runs: one `error` message with its errors."""
    await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query}}))
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["id"] == op_id and message["type"] == "error", message
    return message["payload"]  # type: ignore[no-any-return]


async def _rejected(ws_url: str, payload: Any) -> int | None:
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        return closed.value.rcvd.code if closed.value.rcvd else None


@pytest.mark.parametrize("style", ["authorization", "token"])
async def test_token_in_connection_init_authenticates(
    ws_url: str, gql: GraphQLClient, style: str
) -> None:
    # given
    token = await gql.token_for(USER)
    payload = {"authorization": f"Bearer {token}"} if style == "authorization" else {"token": token}
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        # when
        ack = await _init(ws, payload)
        viewer = await _run(ws, QUERY_VIEWER)
        accounts = await _run(ws, QUERY_ACCOUNTS, "2")
    # then
    assert ack["type"] == "connection_ack"
    assert viewer["data"] == {"viewer": {"authenticated": True, "user": {"email": USER}}}
    assert accounts["data"]["accounts"]["totalCount"] == 5


async def test_connection_without_token_is_anonymous(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        # when
        ack = await _init(ws, {})
        viewer = await _run(ws, QUERY_VIEWER)
        accounts = await _refused(ws, QUERY_ACCOUNTS, "2")
    # then
    assert ack["type"] == "connection_ack"
    assert viewer["data"]["viewer"] == {"authenticated": False, "user": None}
    assert [e["extensions"]["code"] for e in accounts] == ["UNAUTHENTICATED"]


@pytest.mark.parametrize(
    "payload",
    [
        {"authorization": "Bearer not-a-token"},
        {"token": "not.a.token"},
        {"token": 12345},
        {"authorization": ["Bearer", "x"]},
    ],
    ids=["bad-bearer", "bad-token", "number", "list"],
)
async def test_invalid_token_is_rejected(ws_url: str, payload: Any) -> None:
    # when
    code = await _rejected(ws_url, payload)
    # then
    assert code == 4403


async def test_expired_token_is_rejected(ws_url: str, settings: Settings) -> None:
    # given: a token signed with our key whose lifetime is over
    service = TokenService(replace(settings, access_token_ttl_seconds=-3600))
    expired, _ = service.issue_access_token("user:1", "portal-web")
    # when
    code = await _rejected(ws_url, {"token": expired})
    # then
    assert code == 4403


async def test_operation_before_connection_init_is_refused(ws_url: str) -> None:
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        # when
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY_ACCOUNTS}})
        )
        # then
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_connection_becomes_anonymous_when_its_token_expires(
    ws_url: str, settings: Settings
) -> None:
    # given: a token two seconds from the end of its clock-skew allowance
    service = TokenService(replace(settings, access_token_ttl_seconds=-CLOCK_LEEWAY_SECONDS + 2))
    token, _ = service.issue_access_token("user:2", "portal-web")
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ack = await _init(ws, {"token": token})
        before = await _run(ws, QUERY_ACCOUNTS)
        # when
        await asyncio.sleep(2.5)
        after = await _refused(ws, QUERY_ACCOUNTS, "2")
    # then
    assert ack["type"] == "connection_ack"
    assert "errors" not in before, before
    assert [e["extensions"] for e in after] == [
        {"code": "UNAUTHENTICATED", "reason": "TOKEN_EXPIRED"}
    ]


async def test_every_message_is_a_text_frame(ws_url: str, gql: GraphQLClient) -> None:
    # given
    token = await gql.token_for(USER)
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        frames = [await asyncio.wait_for(ws.recv(), 5)]
        # when
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ x }"}}))
        frames.append(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps({"type": "ping"}))
        frames.append(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(
            json.dumps({"id": "2", "type": "subscribe", "payload": {"query": QUERY_VIEWER}})
        )
        frames += [await asyncio.wait_for(ws.recv(), 5) for _ in range(2)]
    # then: the protocol's messages are JSON in text frames (a binary frame is refused by
    # graphql-ws and gql)
    assert [type(frame) for frame in frames] == [str] * 5
    assert [json.loads(frame)["type"] for frame in frames] == [
        "connection_ack",
        "error",
        "pong",
        "next",
        "complete",
    ]


@pytest.mark.parametrize("in_init", [None, "same"], ids=["header-only", "header-and-same-init"])
async def test_bearer_token_on_the_upgrade_request_authenticates(
    ws_url: str, gql: GraphQLClient, in_init: str | None
) -> None:
    # given
    token = await gql.token_for(USER)
    payload = {"token": token} if in_init else {}
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(
        ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers=headers,
    ) as ws:
        # when
        ack = await _init(ws, payload)
        viewer = await _run(ws, QUERY_VIEWER)
    # then
    assert ack["type"] == "connection_ack"
    assert viewer["data"] == {"viewer": {"authenticated": True, "user": {"email": USER}}}


@pytest.mark.parametrize("case", ["differs-from-init", "invalid"])
async def test_upgrade_request_token_that_differs_or_is_invalid_is_rejected(
    ws_url: str, gql: GraphQLClient, case: str
) -> None:
    # given
    user_token = await gql.token_for(USER)
    other_token = await gql.token_for("agent@vendor.example")
    header, payload = (
        (other_token, {"token": user_token}) if case == "differs-from-init" else ("x.y.z", {})
    )
    async with connect(
        ws_url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        additional_headers={"Authorization": f"Bearer {header}"},
    ) as ws:
        # when
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    # then
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_a_subscription_runs_on_the_connections_audience(
    ws_url: str, gql: GraphQLClient
) -> None:
    # given: a stock manager's connection (no tickets in its schema)
    token = await gql.token_for("stock@acme.example")
    async with connect(ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ack = await _init(ws, {"token": token})
        # when
        errors = await _refused(ws, "subscription { ticketUpdated { kind } }", "1")
        viewer = await _run(ws, QUERY_VIEWER, "2")
    # then: refused by validation, as an unknown field; the connection goes on
    assert ack["type"] == "connection_ack"
    assert [e["extensions"]["code"] for e in errors] == ["GRAPHQL_VALIDATION_FAILED"]
    assert viewer["data"]["viewer"]["authenticated"] is True
