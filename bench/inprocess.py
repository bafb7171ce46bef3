"""Shared by the in-process benchmarks: the demo fleet in a fresh SQLite file, and the median
wall and CPU time of one request sent N times through the ASGI app (no network)."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from app import create_app
from cli import migrate
from demo.fleet import seed_demo
from models.session import create_engine, create_sessionmaker
from settings import Settings

WARM_UP = 20
LOGIN = """mutation($email: String!) { login(input: {email: $email, password: "demo-password"})
  { accessToken } }"""


@asynccontextmanager
async def demo_fleet() -> AsyncIterator[tuple[Settings, AsyncEngine]]:
    """Settings (no limits in the way) and an engine over the small demo fleet."""
    with tempfile.TemporaryDirectory() as var_dir:
        settings = replace(
            Settings.from_env(),
            database_url=f"sqlite+aiosqlite:///{var_dir}/bench.sqlite3",
            var_dir=Path(var_dir),
            environment="test",
            redis_url=None,
            rate_limit_capacity=10**9,
            rate_limit_restore_rate=10**9,
        )
        await asyncio.to_thread(migrate, settings)
        engine = create_engine(settings)
        await seed_demo(engine, scale="small", progress=False)
        try:
            yield settings, engine
        finally:
            await engine.dispose()


async def measure(
    settings: Settings, engine: AsyncEngine, query: str, n: int, email: str | None = None
) -> tuple[float, float]:
    """Median (wall ms, CPU ms) of `query` sent n times (after a warm-up), as `email` if given."""
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        headers: dict[str, Any] = {}
        if email is not None:
            login = await http.post(
                "/graphql", json={"query": LOGIN, "variables": {"email": email}}
            )
            headers["Authorization"] = f"Bearer {login.json()['data']['login']['accessToken']}"
        walls, cpus = [], []
        for i in range(n + WARM_UP):
            wall, cpu = time.perf_counter(), time.process_time()
            response = await http.post("/graphql", json={"query": query}, headers=headers)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert not response.json().get("errors"), response.text
            if i >= WARM_UP:
                walls.append(wall)
                cpus.append(cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000
