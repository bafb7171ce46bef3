"""CPU per signed-in request, in process (bench/inprocess.py: ASGI, small demo fleet on SQLite):
`{ viewer { user { email } } }` and the dashboard page of bench/meters.py, as a device manager
and as the group administrator. Run it at two commits, alternately, to compare.

    .venv/bin/python bench/signed_in.py [--runs N]"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.inprocess import demo_fleet, measure
from bench.meters import QUERY_LATEST

VIEWER = "{ viewer { user { email } } }"
CASES = (
    ("viewer, device manager", VIEWER, "devices@acme.example", 1),
    ("viewer, group administrator", VIEWER, "admin@acme.example", 1),
    ("dashboard (100 devices), group administrator", QUERY_LATEST, "admin@acme.example", 4),
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=400, help="requests per case")
    args = parser.parse_args()
    async with demo_fleet() as (settings, engine):
        for name, query, email, divisor in CASES:
            wall, cpu = await measure(settings, engine, query, args.runs // divisor, email)
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            print(f"{name}: CPU {cpu:.2f} ms, wall {wall:.2f} ms per request (load {load})")


if __name__ == "__main__":
    asyncio.run(main())
