"""CPU per accepted `submitMeterReadings`, in process (ASGI, sequential), on the database of
DATABASE_URL (bench/meters.py's plans: each meter one page above its latest reading; the
readings stored are deleted at the end of each round). `--profile` prints cProfile's top
functions by own time, after each package's share of it. Run it at two commits, alternately,
to compare.

    DATABASE_URL=... .venv/bin/python bench/submit_cpu.py [--rounds N] [--profile]"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from bench.meters import (
    QUERY_SUBMIT,
    SERVER_ENV,
    Client,
    delete_readings,
    submissions_plan,
)
from core.ids import parse_global_id
from models.session import create_engine, create_sessionmaker
from settings import Settings

ROOT = Path(__file__).resolve().parent.parent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--count", type=int, default=150, help="submissions per round")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    os.environ.update(SERVER_ENV)
    settings = Settings.from_env()
    engine = create_engine(settings)
    statements = {"n": 0}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(*_: Any) -> None:
        statements["n"] += 1

    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    profile = cProfile.Profile() if args.profile else None
    cpu: list[float] = []
    wall: list[float] = []
    per_request: list[int] = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),  # as under uvicorn (the connection it keeps)
            httpx.AsyncClient(transport=transport, base_url="http://bench") as http,
        ):
            client = Client(http)
            await client.sign_in()
            for _ in range(args.rounds):
                plans = (await submissions_plan(settings, args.count))[: args.count]
                stored: list[int] = []
                try:
                    for plan in plans:
                        statements["n"] = 0
                        c0, w0 = time.process_time(), time.perf_counter()
                        if profile:
                            profile.enable()
                        data = await client(QUERY_SUBMIT, {"input": plan})
                        if profile:
                            profile.disable()
                        cpu.append((time.process_time() - c0) * 1000)
                        wall.append((time.perf_counter() - w0) * 1000)
                        per_request.append(statements["n"])
                        payload = data["submitMeterReadings"]
                        if payload["userErrors"]:
                            raise RuntimeError(payload["userErrors"])
                        stored += [parse_global_id(r["id"])[1] for r in payload["readings"]]  # type: ignore[index]
                finally:
                    await delete_readings(settings, stored)
    finally:
        await engine.dispose()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"submitMeterReadings: CPU median {statistics.median(cpu):.2f} ms, wall median "
        f"{statistics.median(wall):.2f} ms, statements {statistics.median(per_request):.0f} "
        f"({len(cpu)} accepted; load {load})"
    )
    if profile:
        stats = pstats.Stats(profile)
        by_package: dict[str, float] = {}
        for (path, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            package = (
                path.split("site-packages/")[-1].split("/")[0]
                if "site-packages" in path
                else ("python" if "/lib/python" in path else path.replace(str(ROOT) + "/", ""))
            )
            by_package[package] = by_package.get(package, 0.0) + own
        total = sum(by_package.values())
        for package, own in sorted(by_package.items(), key=lambda kv: -kv[1])[:15]:
            print(f"{own / total:6.1%}  {package}")
        stats.sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    asyncio.run(main())
