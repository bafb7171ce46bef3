"""What tracing costs a request: the same dashboard-like query (signed in as an administrator,
devices with their site and model, open tickets) sent N times through the ASGI app in this
process, with tracing off (no tracer provider, the default) and on (the SDK with an in-memory
exporter: every span built and kept, nothing sent over the network). Prints the median wall and
CPU time per request and the spans per request (modes alternated, ROUNDS times).

    .venv/bin/python bench/tracing.py            # a fresh SQLite file in a tmp dir; N=300
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app import create_app
from cli import migrate
from demo.fleet import seed_demo
from models.session import create_engine, create_sessionmaker
from observability import tracing
from settings import Settings

QUERY = """query Dashboard {
  devices(first: 20) { totalCount nodes { serialNumber site { name } model { name } } }
  tickets(first: 10) { nodes { number status } }
}"""
LOGIN = """mutation { login(input: {email: "admin@acme.example", password: "demo-password"}) {
  accessToken } }"""


async def measure(settings: Settings, engine: object, n: int) -> tuple[float, float]:
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        login = await http.post("/graphql", json={"query": LOGIN})
        token = login.json()["data"]["login"]["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        walls, cpus = [], []
        for i in range(n + 20):
            wall, cpu = time.perf_counter(), time.process_time()
            response = await http.post("/graphql", json={"query": QUERY}, headers=headers)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert not response.json().get("errors"), response.text
            if i >= 20:  # warmed up
                walls.append(wall)
                cpus.append(cpu)
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000


async def main() -> None:
    n = int(os.environ.get("N", "300"))
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
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
        spans = 0.0
        for _ in range(int(os.environ.get("ROUNDS", "3"))):  # alternated: the load moves
            results["off"].append(await measure(settings, engine, n))
            tracing.install(provider)
            tracing.instrument_engine(engine)
            exporter.clear()
            results["on"].append(await measure(settings, engine, n))
            spans = len(exporter.get_finished_spans()) / (n + 21)
            tracing.uninstall()
        await engine.dispose()
    off, on = (
        tuple(statistics.median(r[i] for r in results[mode]) for i in (0, 1))
        for mode in ("off", "on")
    )
    print(f"requests per mode: {n}; median per request (wall ms / CPU ms)")
    print(f"tracing off          {off[0]:7.2f} / {off[1]:7.2f}")
    print(f"tracing on (memory)  {on[0]:7.2f} / {on[1]:7.2f}   ~{spans:.0f} spans per request")
    print(f"difference           {on[0] - off[0]:7.2f} / {on[1] - off[1]:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
