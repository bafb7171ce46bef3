"""SIGTERM to `python -m cli serve` (a real uvicorn): /readyz answers 503 "draining" at once
while the worker keeps serving for SHUTDOWN_DELAY_SECONDS; a request in flight (its body still
arriving) completes; an open WebSocket is closed with 1012 (service restart); the process ends."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from settings import ROOT, Settings
from tests.frozen import frozen_command
from tests.servers import HOST, free_port, wait_healthy

DELAY_SECONDS = 1.5
QUERY = b'{"query": "query Slow { __typename }"}'


async def _start(settings: Settings, port: int) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "PORTAL_VAR_DIR": str(settings.var_dir),
        "MAIL_SENDER_ENABLED": "0",
        "PORTAL_ENV": "test",
        "SHUTDOWN_DELAY_SECONDS": str(DELAY_SECONDS),
        "SHUTDOWN_GRACE_SECONDS": "10",
    }
    env.pop("REDIS_URL", None)
    command = frozen_command(
        [sys.executable, "-m", "cli", "serve", "--host", HOST, "--port", str(port)]
    )
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_healthy(f"http://{HOST}:{port}", lambda: process.returncode is not None)
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        raise
    return process


async def test_sigterm_drains_requests_and_closes_websockets(
    settings: Settings, engine: AsyncEngine
) -> None:
    # given: a server, an open WebSocket and a request whose body is half sent
    port = free_port()
    process = await _start(settings, port)
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=5) as http,
            connect(f"ws://{HOST}:{port}/graphql", subprotocols=["graphql-transport-ws"]) as ws,  # type: ignore[list-item]
        ):
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            ready_before = await http.get("/readyz")
            reader, writer = await asyncio.open_connection(HOST, port)
            head = (
                f"POST /graphql HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(QUERY)}\r\n\r\n"
            ).encode()
            writer.write(head + QUERY[:10])
            await writer.drain()
            await asyncio.sleep(0.2)
            # when
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.2)
            draining = await http.get("/readyz")
            closed_with = None
            try:
                await asyncio.wait_for(ws.recv(), DELAY_SECONDS + 5)
            except ConnectionClosed as closed:
                closed_with = closed.rcvd.code if closed.rcvd is not None else None
            writer.write(QUERY[10:])  # the rest of the body, after the shutdown began
            await writer.drain()
            response = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        exit_code = await asyncio.wait_for(process.wait(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    # then
    assert ready_before.status_code == 200
    assert draining.status_code == 503 and draining.json() == {"status": "draining"}
    assert closed_with == 1012
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", response
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["data"] == {"__typename": "Query"}
    assert exit_code in (0, -signal.SIGTERM)
