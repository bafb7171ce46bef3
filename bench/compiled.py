"""The compiled execution path on and off (`Settings.compiled_execution`), in-process through the
ASGI app on the small demo fleet (SQLite): median wall and CPU time per request, the two modes
alternated ROUNDS times (default 3) so that load swings weigh on both alike.

    N=300 ROUNDS=3 python -m bench.compiled
"""

from __future__ import annotations

import asyncio
import os
import statistics
from dataclasses import replace

from bench.inprocess import demo_fleet, measure
from tests.queries import QUERY_DASHBOARD

# a device manager's schema has no stock locations
WITHOUT_STOCK = QUERY_DASHBOARD.replace("stockLocation { name }", "")
CASES = [
    ("dashboard, administrator", QUERY_DASHBOARD, "admin@acme.example"),
    ("dashboard, device manager", WITHOUT_STOCK, "devices@acme.example"),
    ("dashboard, agent", QUERY_DASHBOARD, "agent@vendor.example"),
]
MODES = {"standard": False, "compiled": True}


async def main() -> None:
    n = int(os.environ.get("N", "300"))
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    async with demo_fleet() as (settings, engine):
        for _ in range(int(os.environ.get("ROUNDS", "3"))):
            for mode, on in MODES.items():
                chosen = replace(settings, compiled_execution=on)
                for name, query, email in CASES:
                    figures = await measure(chosen, engine, query, n, email)
                    results.setdefault((name, mode), []).append(figures)
    print(
        f"load average {os.getloadavg()[0]:.1f}; requests per case and mode: {n}; "
        "median per request (wall ms / CPU ms)"
    )
    for name, _, _ in CASES:
        line = [f"{name:28}"]
        cpu = {}
        for mode in MODES:
            runs = results[(name, mode)]
            wall = statistics.median(r[0] for r in runs)
            cpu[mode] = statistics.median(r[1] for r in runs)
            line.append(f"{mode} {wall:6.2f} / {cpu[mode]:6.2f}")
        line.append(f"CPU compiled / standard {cpu['compiled'] / cpu['standard']:.2f}")
        print("   ".join(line))


if __name__ == "__main__":
    asyncio.run(main())
