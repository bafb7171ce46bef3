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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench.inprocess import WARM_UP, demo_fleet, measure
from observability import tracing

QUERY = """query Dashboard {
  devices(first: 20) { totalCount nodes { serialNumber site { name } model { name } } }
  tickets(first: 10) { nodes { number status } }
}"""
ADMIN = "admin@acme.example"


async def main() -> None:
    n = int(os.environ.get("N", "300"))
    async with demo_fleet() as (settings, engine):
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
        spans = 0.0
        for _ in range(int(os.environ.get("ROUNDS", "3"))):  # alternated: the load moves
            results["off"].append(await measure(settings, engine, QUERY, n, ADMIN))
            tracing.install(provider)
            tracing.instrument_engine(engine)
            exporter.clear()
            results["on"].append(await measure(settings, engine, QUERY, n, ADMIN))
            spans = len(exporter.get_finished_spans()) / (n + WARM_UP + 1)
            tracing.uninstall()
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
