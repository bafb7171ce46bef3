"""Real servers on a free loopback port, for tests and benchmarks (`bench/` imports this too):
an app served by uvicorn in the running event loop or in a thread, and the command line and
readiness check for uvicorn in a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import uvicorn

from tests.frozen import frozen_command

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _server(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off")
    return uvicorn.Server(config)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serves `app` in the running event loop; yields `127.0.0.1:<port>`."""
    port = free_port()
    server = _server(app, port)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "server did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"{HOST}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@contextlib.contextmanager
def serving_in_thread(app: Any, port: int) -> Iterator[None]:
    """Serves `app` on `port` in a daemon thread, for callers that block the event loop."""
    server = _server(app, port)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def uvicorn_command(port: int, *options: str) -> list[str]:
    """Runs the portal app (`app:create_app`) under uvicorn on 127.0.0.1:`port` (at the session's
    instant when PORTAL_FREEZE_AT freezes it)."""
    return frozen_command(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app:create_app",
            "--factory",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            *options,
        ]
    )


# How long a server subprocess may take to answer /healthz: importing the app takes a few
# seconds on an idle machine and several times that on two cores running the whole suite.
STARTUP_SECONDS = 60.0


async def wait_healthy(url: str, exited: Callable[[], bool] = lambda: False) -> None:
    """Waits until `url`/healthz answers 200; fails when `exited()` or after STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=url, timeout=2) as http:
        while time.monotonic() < deadline:
            if exited():
                raise RuntimeError("server exited")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not start")
