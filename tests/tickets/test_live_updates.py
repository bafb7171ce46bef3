"""Subscription.ticketUpdated over graphql-transport-ws, across two real server processes
sharing the database and Redis: a change made through server A reaches subscribers on server B,
each subscriber gets exactly what it may see, and an expired token ends the subscription.

The servers commit for real, so the module removes what it wrote afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

from auth.tokens import TokenService
from models import User
from settings import Settings
from tests.conftest import ROOT
from tests.graphql import QUERY_LOGIN
from tests.servers import free_port, uvicorn_command, wait_healthy
from tests.tickets.support import (
    ADD_COMMENT,
    CREATE_TICKET,
    QUERY_MY_DEVICES,
    committed_writes_removed,
)

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"
GLOBEX = "admin@globex.example"

SUBSCRIBE = """
subscription Updates($ticketId: ID, $accountId: ID) {
  ticketUpdated(ticketId: $ticketId, accountId: $accountId) {
    kind internal ticketId ticketNumber ticketStatus toStatus actorName
    comment { body internal }
  }
}
"""


def _redis_available() -> bool:
    host, port = "127.0.0.1", 6379
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


pytestmark = pytest.mark.skipif(not _redis_available(), reason="needs Redis on 127.0.0.1:6379")


@dataclass
class Server:
    url: str
    process: asyncio.subprocess.Process

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def gql(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=self.url, timeout=20) as http:
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        body = response.json()
        assert not body.get("errors"), body
        return body["data"]


async def _start(settings: Settings) -> Server:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PORTAL_VAR_DIR": str(settings.var_dir),
        "REDIS_URL": REDIS_URL,
        "MAIL_SENDER_ENABLED": "0",
        "PORTAL_ENV": "test",
    }
    process = await asyncio.create_subprocess_exec(*uvicorn_command(port), cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, lambda: process.returncode is not None)
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise
    return Server(url, process)


@dataclass
class Cluster:
    a: Server
    b: Server
    settings: Settings
    tokens: dict[str, str]


@pytest.fixture(scope="module")
async def cluster(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Cluster]:
    TokenService(settings)  # the signing key exists before both servers load it
    async with committed_writes_removed(engine), _cluster(settings) as cluster:
        yield cluster


@contextlib.asynccontextmanager
async def _cluster(settings: Settings) -> AsyncIterator[Cluster]:
    servers = await asyncio.gather(_start(settings), _start(settings))
    try:
        tokens = {}
        for email in (ADMIN, AGENT, GLOBEX):
            data = await servers[0].gql(
                QUERY_LOGIN, {"input": {"email": email, "password": "demo-password"}}
            )
            tokens[email] = data["login"]["accessToken"]
        yield Cluster(servers[0], servers[1], settings, tokens)
    finally:
        for server in servers:
            server.process.terminate()
        for server in servers:
            try:
                await asyncio.wait_for(server.process.wait(), 10)
            except TimeoutError:
                server.process.kill()
                await server.process.wait()


@contextlib.asynccontextmanager
async def subscription(
    server: Server, token: str, variables: dict[str, Any] | None = None
) -> AsyncIterator[ClientConnection]:
    async with connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIBE, "variables": variables or {}},
                }
            )
        )
        await asyncio.sleep(0.5)  # let the server register the subscription
        yield ws


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert message["type"] == "next", message
    assert not message["payload"].get("errors"), message
    return message["payload"]["data"]["ticketUpdated"]  # type: ignore[no-any-return]


async def nothing_more(ws: ClientConnection, wait: float = 1.5) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.recv(), wait)


async def acme_ticket(cluster: Cluster) -> dict[str, Any]:
    token = cluster.tokens[ADMIN]
    devices = (await cluster.a.gql(QUERY_MY_DEVICES, {}, token))["devices"]["nodes"]
    device = next(
        d for d in devices if d["status"] == "ACTIVE" and d["contract"] and d["contract"]["active"]
    )
    data = await cluster.a.gql(
        CREATE_TICKET,
        {
            "input": {
                "type": "INCIDENT",
                "deviceId": device["id"],
                "summary": f"Live {uuid.uuid4().hex[:6]}",
                "symptomCategory": "NOISE",
            }
        },
        token,
    )
    assert data["createTicket"]["userErrors"] == []
    return data["createTicket"]["ticket"]  # type: ignore[no-any-return]


async def test_event_made_on_server_a_reaches_a_subscriber_on_server_b(cluster: Cluster) -> None:
    # given: the group administrator follows its whole account tree on server B
    accounts = await cluster.b.gql(
        "query { accounts(first: 10) { nodes { id name } } }", {}, cluster.tokens[ADMIN]
    )
    group = next(a["id"] for a in accounts["accounts"]["nodes"] if a["name"] == "Acme Group")
    async with subscription(cluster.b, cluster.tokens[ADMIN], {"accountId": group}) as ws:
        # when: a ticket is logged through server A
        ticket = await acme_ticket(cluster)
        # then
        event = await next_event(ws)
        assert event["kind"] == "CREATED"
        assert event["ticketId"] == ticket["id"]
        assert event["ticketNumber"] == ticket["number"]
        assert event["toStatus"] == "NEW"


async def test_each_subscriber_gets_only_what_it_may_see(cluster: Cluster) -> None:
    # given
    ticket = await acme_ticket(cluster)
    async with (
        subscription(cluster.b, cluster.tokens[AGENT], {"ticketId": ticket["id"]}) as agent,
        subscription(cluster.b, cluster.tokens[ADMIN], {"ticketId": ticket["id"]}) as customer,
        subscription(cluster.a, cluster.tokens[GLOBEX]) as stranger,
    ):
        # when: the agent writes an internal note, then a public answer, through server A
        for body, internal in (("Check credit first.", True), ("On our way.", False)):
            data = await cluster.a.gql(
                ADD_COMMENT,
                {"input": {"ticketId": ticket["id"], "body": body, "internal": internal}},
                cluster.tokens[AGENT],
            )
            assert data["addTicketComment"]["userErrors"] == []
        # then
        agent_events = [await next_event(agent), await next_event(agent)]
        assert [(e["comment"]["body"], e["internal"]) for e in agent_events] == [
            ("Check credit first.", True),
            ("On our way.", False),
        ]
        customer_event = await next_event(customer)
        assert customer_event["comment"] == {"body": "On our way.", "internal": False}
        assert customer_event["actorName"] == "Vera Agent"
        await nothing_more(customer)
        await nothing_more(stranger, wait=0.5)


async def test_subscribing_to_an_invisible_ticket_is_refused(cluster: Cluster) -> None:
    # given
    ticket = await acme_ticket(cluster)
    async with subscription(cluster.b, cluster.tokens[GLOBEX], {"ticketId": ticket["id"]}) as ws:
        # when
        message = json.loads(await asyncio.wait_for(ws.recv(), 10))
    # then
    assert message["type"] in ("error", "next"), message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]


async def test_expired_token_ends_the_subscription(cluster: Cluster, engine: AsyncEngine) -> None:
    # given: a token that lives three seconds
    async with engine.connect() as conn:
        user_id = await conn.scalar(select(User.id).where(User.email == ADMIN))
    short = TokenService(replace(cluster.settings, access_token_ttl_seconds=3))
    token, _ = short.issue_access_token(f"user:{user_id}", "portal-web")
    async with subscription(cluster.b, token) as ws:
        # when: the token runs out while the subscription is open
        message = json.loads(await asyncio.wait_for(ws.recv(), 15))
        # then
        assert message["type"] in ("error", "next"), message
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
