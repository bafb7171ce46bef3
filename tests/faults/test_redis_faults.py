"""A Redis that is down or hangs (SIGSTOP): requests stay fast (the breaker falls back to
in-process rate limits), /readyz says degraded, WebSockets open (connection counts in process),
live events are delivered in process, and subscribers get a RESYNC event when delivery between
servers was interrupted and when it is back.

Every test runs its own redis-server on a free port; the shared one is never touched."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection, connect

import core.redis_guard
import pubsub.tickets
from app import create_app
from models.session import create_sessionmaker
from settings import Settings
from tests.conftest import ClientFactory
from tests.graphql import GraphQLClient
from tests.servers import HOST, free_port, serving
from tests.tickets.support import committed_writes_removed, covered_device, create_incident

REDIS_SERVER = "/usr/bin/redis-server"
NO_PERSISTENCE = ("--save", "", "--appendonly", "no")
ADMIN = "admin@acme.example"

QUERY_ACCOUNTS = "query Accounts { accounts(first: 1) { totalCount } }"
QUERY_PUBLIC = "query Public { __typename }"

SUBSCRIBE = """
subscription Updates {
  ticketUpdated { kind id ticketId ticketNumber ticketStatus ticketVersion }
}
"""

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER), reason="needs redis-server")


class PrivateRedis:
    """A redis-server of the test's own, to stop, pause (SIGSTOP) and resume."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", HOST, *NO_PERSISTENCE],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[PrivateRedis]:
    # A short breaker cooldown and listener heartbeat keep the tests quick.
    monkeypatch.setattr(core.redis_guard, "COOLDOWN_SECONDS", 0.5)
    monkeypatch.setattr(pubsub.tickets, "HEARTBEAT_SECONDS", 0.3)
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def timed(gql: GraphQLClient, query: str, token: str | None) -> float:
    """Seconds one request takes (at most 5: a hanging request fails the test, never waits)."""
    started = time.perf_counter()
    result = await asyncio.wait_for(gql(query, token=token), 5)
    elapsed = time.perf_counter() - started
    assert result.status == 200 and not result.errors, result.body
    return elapsed


async def latencies(gql: GraphQLClient, token: str, rounds: int = 4) -> list[float]:
    """Signed-in and anonymous requests, alternately."""
    times = []
    for _ in range(rounds):
        times.append(await timed(gql, QUERY_ACCOUNTS, token))
        times.append(await timed(gql, QUERY_PUBLIC, None))
    return times


async def readiness(gql: GraphQLClient) -> tuple[int, Any]:
    response = await asyncio.wait_for(gql.http.get("/readyz"), 5)
    return response.status_code, response.json()


async def eventually_ready(gql: GraphQLClient) -> None:
    for _ in range(100):
        if (await readiness(gql))[1]["status"] == "ready":
            return
        await asyncio.sleep(0.1)
    raise AssertionError("readiness stayed degraded after Redis came back")


async def test_hanging_redis_adds_at_most_250_ms_per_request(
    client_with: ClientFactory, redis_server: PrivateRedis
) -> None:
    # given: an app whose rate limits and persisted queries live in the private Redis
    async with client_with(redis_url=redis_server.url) as gql:
        token = await gql.token_for(ADMIN)
        await latencies(gql, token, rounds=1)  # warm up
        base = statistics.median(await latencies(gql, token))
        assert await readiness(gql) == (200, {"status": "ready", "database": "ok", "redis": "ok"})
        # when: Redis hangs (stopped, not gone: connections open, nothing answers)
        redis_server.pause()
        try:
            paused = await latencies(gql, token)
            ready = await readiness(gql)
        finally:
            redis_server.resume()
        # then
        added = [t - base for t in paused]
        print(f"added per request: median {statistics.median(added):.3f} s, max {max(added):.3f} s")
        assert statistics.median(added) <= 0.25, added
        assert max(added) <= 1.0, added  # one request pays the timeout; before: ~10 s or forever
        assert ready == (200, {"status": "degraded", "database": "ok", "redis": "unavailable"})
        # when: Redis answers again, the probe closes the breaker
        await eventually_ready(gql)
        assert statistics.median(await latencies(gql, token)) - base <= 0.25


async def test_stopped_redis_degrades_to_in_process_limits(
    client_with: ClientFactory, redis_server: PrivateRedis
) -> None:
    # given
    async with client_with(redis_url=redis_server.url) as gql:
        token = await gql.token_for(ADMIN)
        await latencies(gql, token, rounds=1)
        # when: Redis is gone (connections refused)
        redis_server.stop()
        result = await asyncio.wait_for(gql(QUERY_ACCOUNTS, token=token), 5)
        # then: served, and limited, in process
        assert result.status == 200 and not result.errors, result.body
        assert int(result.headers["X-RateLimit-Remaining"]) < int(
            result.headers["X-RateLimit-Limit"]
        )
        assert await readiness(gql) == (
            200,
            {"status": "degraded", "database": "ok", "redis": "unavailable"},
        )
        # when: it is back
        redis_server.start()
        # then
        await eventually_ready(gql)


@pytest.fixture
async def live_server(
    engine: AsyncEngine, settings: Settings, redis_server: PrivateRedis
) -> AsyncIterator[str]:
    app = create_app(
        replace(settings, redis_url=redis_server.url), sessionmaker=create_sessionmaker(engine)
    )
    async with committed_writes_removed(engine), serving(app) as address:
        yield address


async def open_socket(address: str, token: str) -> ClientConnection:
    ws = await connect(
        f"ws://{address}/graphql",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
    )
    await ws.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 3))
    assert ack["type"] == "connection_ack", ack
    return ws


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert message["type"] == "next", message
    return message["payload"]["data"]["ticketUpdated"]  # type: ignore[no-any-return]


RESYNC = {
    "kind": "RESYNC",
    "id": None,
    "ticketId": None,
    "ticketNumber": None,
    "ticketStatus": None,
    "ticketVersion": None,
}


async def test_subscribers_are_told_to_refetch_across_a_redis_pause(
    live_server: str, redis_server: PrivateRedis
) -> None:
    # given: a subscriber on a server whose events travel through the private Redis
    async with httpx.AsyncClient(base_url=f"http://{live_server}", timeout=20) as http:
        gql = GraphQLClient(http)
        device = await covered_device(gql, ADMIN)
        token = await gql.token_for(ADMIN)
        ws = await open_socket(live_server, token)
        try:
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
            )
            await asyncio.sleep(0.5)
            # when: Redis hangs
            redis_server.pause()
            try:
                # then: delivery between servers is interrupted: refetch
                assert await next_event(ws) == RESYNC
                # and a WebSocket still opens (connections counted in process)
                second = await open_socket(live_server, token)
                await second.close()
                # and this server's own events are delivered in process
                ticket = await create_incident(gql, ADMIN, device["id"])
                created = await next_event(ws)
                assert created["kind"] == "CREATED"
                assert created["ticketNumber"] == ticket["number"]
            finally:
                redis_server.resume()
            # then: once Redis is back, events from other servers may have been missed: refetch
            assert await next_event(ws) == RESYNC
        finally:
            await ws.close()
