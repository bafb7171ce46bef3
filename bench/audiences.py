"""What one schema per audience costs a request: the same requests through the ASGI app in this
process, with each caller's operation run on its audience's schema (as served) and on the one
full schema (as before issue 13: `PortalSchema.execute` bypassed). Prints the median wall and
CPU time per request of `{ __typename }` (anonymous and signed in) and of the dashboard (an
administrator's page of 100 devices), modes alternated ROUNDS times.

    .venv/bin/python bench/audiences.py          # a fresh SQLite file in a tmp dir; N=300
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import demo_fleet, measure
from schema.audiences import AudienceSchema, PortalSchema
from tests.queries import QUERY_DASHBOARD

CASES = [
    ("{ __typename }, anonymous", "{ __typename }", None),
    ("{ __typename }, signed in", "{ __typename }", "admin@acme.example"),
    ("dashboard, 100 devices", QUERY_DASHBOARD, "admin@acme.example"),
]


async def main() -> None:
    n = int(os.environ.get("N", "300"))
    served = PortalSchema.execute
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    async with demo_fleet() as (settings, engine):
        for _ in range(int(os.environ.get("ROUNDS", "3"))):  # alternated: the load moves
            for mode in ("per audience", "one schema"):
                PortalSchema.execute = (  # type: ignore[method-assign]
                    served if mode == "per audience" else AudienceSchema.execute
                )
                for name, query, email in CASES:
                    figures = await measure(settings, engine, query, n, email)
                    results.setdefault((name, mode), []).append(figures)
    PortalSchema.execute = served  # type: ignore[method-assign]
    print(f"requests per case and mode: {n}; median per request (wall ms / CPU ms)")
    for name, _, _ in CASES:
        line = [f"{name:28}"]
        cpu = {}
        for mode in ("one schema", "per audience"):
            runs = results[(name, mode)]
            wall = statistics.median(r[0] for r in runs)
            cpu[mode] = statistics.median(r[1] for r in runs)
            line.append(f"{mode} {wall:6.2f} / {cpu[mode]:6.2f}")
        line.append(f"CPU ratio {cpu['per audience'] / cpu['one schema']:.2f}")
        print("   ".join(line))


if __name__ == "__main__":
    asyncio.run(main())
