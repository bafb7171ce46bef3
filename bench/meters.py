"""Meter readings on the large demo fleet: the dashboard's latest-readings lookup for 100
devices, a 12-month usage report grouped by site for the group administrator (the last 365 days,
whose first and last months are partial, and the last 12 whole months), and sustained accepted
submissions per second over HTTP (uvicorn subprocess on loopback).

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/bench python bench/meters.py
        [--workers N] [--small] [--submissions-only] [--concurrency C] [--seconds S]

Migrates and seeds the large fleet (`seed-demo --scale large`; `--small`: the small one, whose
200 devices allow 200 accepted submissions a day) when the database is empty, with
bench/fleet.py's loader. `--workers 1` measures one uvicorn process; the load average is printed
with the figures.
Statements per request are counted in-process (same app, an engine event listener); latencies
are measured over HTTP against `uvicorn` on 127.0.0.1. The server gets generous query-cost and
rate limits (environment below): this measures the readings code, not the limiter. Readings the
benchmark stores are deleted at the end (and the usage rollup of their months recomputed).

In-process, the 365-day report also runs once from the readings alone (the path before the usage
rollup: `resolvers.usage.ROLLUP_PERIODS` emptied), and the two answers are compared."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, event, func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from bench.fleet import ensure_loaded  # noqa: E402
from core import clock  # noqa: E402
from core.ids import global_id, parse_global_id  # noqa: E402
from demo.fleet import DEMO_PASSWORD  # noqa: E402
from models import Account, Device, MeterReading  # noqa: E402
from models.session import create_engine, create_sessionmaker  # noqa: E402
from resolvers import usage  # noqa: E402
from resolvers.loaders.meters import latest_readings_statement  # noqa: E402
from resolvers.usage_rollup import respread_around  # noqa: E402
from settings import Settings  # noqa: E402
from tests.servers import free_port, uvicorn_command, wait_healthy  # noqa: E402

ADMIN = "admin@acme.example"
SERVER_ENV = {
    "MAX_QUERY_COST": "100000",
    "RATE_LIMIT_CAPACITY": "100000000",
    "RATE_LIMIT_RESTORE_RATE": "100000000",
    "MAX_LIST_INPUT": "250",
    "READING_REMINDERS_ENABLED": "false",  # periodic passes: not what is measured
    "SILENT_REPLENISHMENT_ENABLED": "false",
}

QUERY_LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken }
}
"""
QUERY_LATEST = """
query Dashboard {
  devices(first: 100) {
    nodes { serialNumber readingDue latestReadings { meter reading { readingDate value } } }
  }
}
"""
QUERY_USAGE = """
query Usage($filter: MeterUsageFilter) {
  meterUsage(groupBy: SITE, period: MONTH, filter: $filter) { groupName meter periodStart pages }
}
"""
QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) { readings { id } userErrors { code } }
}
"""


class Client:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.token: str | None = None

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    async def sign_in(self) -> None:
        data = await self(QUERY_LOGIN, {"email": ADMIN, "password": DEMO_PASSWORD})
        self.token = data["login"]["accessToken"]


def usage_filter() -> dict[str, str]:
    today = clock.utc_today()
    return {"from": (today - timedelta(days=365)).isoformat(), "to": today.isoformat()}


def whole_months_filter() -> dict[str, str]:
    """The last 12 calendar months before this one: rollup rows only."""
    end = clock.utc_today().replace(day=1) - timedelta(days=1)
    start = end.replace(day=1)
    for _ in range(11):
        start = (start - timedelta(days=1)).replace(day=1)
    return {"from": start.isoformat(), "to": end.isoformat()}


async def delete_readings(settings: Settings, ids: list[int]) -> None:
    """Removes the readings the benchmark stored and recomputes the rollup around them."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            for start in range(0, len(ids), 5000):
                chunk = MeterReading.id.in_(ids[start : start + 5000])
                keys = (
                    await conn.execute(
                        select(
                            MeterReading.device_id, MeterReading.meter, MeterReading.reading_date
                        ).where(chunk)
                    )
                ).all()
                await conn.execute(delete(MeterReading).where(chunk))
                await respread_around(conn, [tuple(k) for k in keys])
    finally:
        await engine.dispose()


def compare_usage(rollup: Any, readings: Any) -> str:
    """Largest difference in pages between the two answers (same rows expected)."""
    key = lambda r: (r["groupName"], r["meter"], r["periodStart"])  # noqa: E731
    a = {key(r): r["pages"] for r in rollup["meterUsage"]}
    b = {key(r): r["pages"] for r in readings["meterUsage"]}
    if a.keys() != b.keys():
        return f"DIFFERENT ROWS ({len(a)} vs {len(b)})"
    worst = max(abs(a[k] - b[k]) for k in a)
    return f"{len(a)} rows, largest difference {worst:.4f} pages"


async def prepare(settings: Settings, small: bool) -> None:
    """Loads the large fleet when the database is empty (bench/fleet.py's loader)."""
    await ensure_loaded(settings, "small" if small else "large")
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            readings = await conn.scalar(select(func.count()).select_from(MeterReading))
            devices = await conn.scalar(select(func.count()).select_from(Device))
        print(f"fleet: {devices:,} devices, {readings:,} meter readings")
        if not small and (readings or 0) < 2_000_000:
            raise SystemExit("the benchmark needs the large fleet (>= 2 million readings)")
    finally:
        await engine.dispose()


async def submissions_plan(settings: Settings, count: int) -> list[dict[str, Any]]:
    """Inputs for `count` devices of the group: each meter one page above its latest reading."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Device.id)
                        .join(Account, Account.id == Device.account_id)
                        .where(Account.name != "Globex Corporation")  # not the group's
                        .order_by(Device.id)
                        .limit(count)
                    )
                ).all()
            )
            rows = (await session.execute(latest_readings_statement(ids))).all()
    finally:
        await engine.dispose()
    latest: dict[int, list[dict[str, Any]]] = {}
    today = clock.utc_today()
    skip: set[int] = set()
    for device_id, meter, reading in rows:
        if reading is not None and reading.reading_date >= today - timedelta(days=1):
            skip.add(device_id)  # already read today (site time may be ahead of ours)
        value = (reading.value if reading is not None else 0) + 1
        latest.setdefault(device_id, []).append({"meter": meter, "value": value})
    return [
        {"deviceId": global_id("Device", pk), "readings": readings}
        for pk, readings in latest.items()
        if pk not in skip
    ]


async def statements_per_request(
    settings: Settings, plan: dict[str, Any], submissions_only: bool = False
) -> tuple[dict[str, int], dict[str, str]]:
    """Statements per request, and the usage report from the readings alone against the
    rollup's (time of one run, largest difference)."""
    engine = create_engine(settings)
    counter = {"n": 0}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def count(*_: Any) -> None:
        counter["n"] += 1

    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    result: dict[str, int] = {}
    notes: dict[str, str] = {}
    stored: list[int] = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            client = Client(http)
            await client.sign_in()
            for name, query, variables in (
                ("latest readings, 100 devices", QUERY_LATEST, None),
                ("usage, 12 months by site", QUERY_USAGE, {"filter": usage_filter()}),
                ("submitMeterReadings", QUERY_SUBMIT, {"input": plan}),
            ):
                if submissions_only and not name.startswith("submit"):
                    continue
                counter["n"] = 0
                data = await client(query, variables)
                result[name] = counter["n"]
                if name == "submitMeterReadings":
                    stored += [
                        parse_global_id(r["id"])[1]  # type: ignore[index]
                        for r in data["submitMeterReadings"]["readings"]
                    ]
                if name.startswith("usage"):
                    notes.update(await usage_from_readings(client, data))
    finally:
        await engine.dispose()
    await delete_readings(settings, stored)
    return result, notes


async def usage_from_readings(client: Client, with_rollup: Any) -> dict[str, str]:
    """The same report from the readings alone (the path before the rollup), in-process,
    before anything is submitted: its time and how far the figures are apart."""
    periods, usage.ROLLUP_PERIODS = usage.ROLLUP_PERIODS, frozenset()
    try:
        started = time.perf_counter()
        from_readings = await client(QUERY_USAGE, {"filter": usage_filter()})
        took = (time.perf_counter() - started) * 1000
    finally:
        usage.ROLLUP_PERIODS = periods
    return {
        "usage report, 365 days, from the readings alone (in-process, 1 run)": f"{took:.0f} ms",
        "usage report, 365 days: rollup vs readings alone": compare_usage(
            with_rollup, from_readings
        ),
    }


def start_server(settings: Settings, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": settings.database_url}
    return subprocess.Popen(uvicorn_command(port, "--workers", str(workers)), cwd=ROOT, env=env)


@contextlib.asynccontextmanager
async def signed_in_server(
    settings: Settings, port: int, workers: int, concurrency: int
) -> AsyncIterator[Client]:
    """The app under uvicorn with `workers` processes, and a client signed in as ADMIN."""
    server = start_server(settings, port, workers)
    try:
        limits = httpx.Limits(max_connections=concurrency + 4)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=300, limits=limits
        ) as http:
            await wait_healthy(f"http://127.0.0.1:{port}", lambda: server.poll() is not None)
            client = Client(http)
            await client.sign_in()
            yield client
    finally:
        server.terminate()
        server.wait(timeout=30)


async def submissions_per_second(
    database_url: str, seconds: float, concurrency: int = 16
) -> tuple[float, int]:
    """Accepted submissions per second on ONE uvicorn worker, and how many were accepted (for
    `bench/summary.py`; the fleet is loaded already). The readings are deleted afterwards."""
    os.environ.update(SERVER_ENV)
    settings = replace(Settings.from_env(), database_url=database_url)
    plans = await submissions_plan(settings, 6000)
    stored: list[int] = []
    try:
        async with signed_in_server(settings, free_port(), 1, concurrency) as client:
            await client(QUERY_LATEST)  # warm-up
            accepted, _, took, stored = await sustained(client, plans, seconds, concurrency)
    finally:
        await delete_readings(settings, stored)
    return accepted / took, accepted


async def timed(client: Client, query: str, variables: Any, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await client(query, variables)
        times.append((time.perf_counter() - started) * 1000)
    return times


def describe(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms ({len(ordered)} runs)"


async def sustained(
    client: Client, plans: list[dict[str, Any]], seconds: float, concurrency: int
) -> tuple[int, int, float, list[int]]:
    queue = iter(plans)
    accepted = refused = 0
    stored: list[int] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal accepted, refused
        while time.perf_counter() < deadline:
            plan = next(queue, None)
            if plan is None:
                return
            data = await client(QUERY_SUBMIT, {"input": plan})
            payload = data["submitMeterReadings"]
            if payload["userErrors"]:
                refused += 1
            else:
                accepted += 1
                stored.extend(parse_global_id(r["id"])[1] for r in payload["readings"])  # type: ignore[index]

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(concurrency)])
    return accepted, refused, time.perf_counter() - started, stored


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seconds", type=float, default=15.0, help="submission run length")
    parser.add_argument("--concurrency", type=int, default=16, help="clients submitting at once")
    parser.add_argument("--runs", type=int, default=20, help="runs of the latest-readings lookup")
    parser.add_argument("--usage-runs", type=int, default=5, help="runs of each usage report")
    parser.add_argument("--small", action="store_true", help="the small demo fleet")
    parser.add_argument(
        "--submissions-only", action="store_true", help="skip the dashboard and usage figures"
    )
    args = parser.parse_args()

    os.environ.update(SERVER_ENV)  # the same limits in-process and in the server
    settings = Settings.from_env()
    if settings.is_sqlite:
        print("note: SQLite; set DATABASE_URL to a PostgreSQL database for the reference figures")
    await prepare(settings, args.small)
    plans = await submissions_plan(settings, 6000)
    statements, notes = await statements_per_request(settings, plans.pop(), args.submissions_only)

    stored: list[int] = []
    try:
        async with signed_in_server(settings, args.port, args.workers, args.concurrency) as client:
            await client(QUERY_LATEST)  # warm-up
            latest = usage_days = usage_months = []
            if not args.submissions_only:
                latest = await timed(client, QUERY_LATEST, None, args.runs)
                usage_days = await timed(
                    client, QUERY_USAGE, {"filter": usage_filter()}, args.usage_runs
                )
                usage_months = await timed(
                    client, QUERY_USAGE, {"filter": whole_months_filter()}, args.usage_runs
                )
            load_before = [f"{x:.2f}" for x in os.getloadavg()]
            accepted, refused, took, stored = await sustained(
                client, plans, args.seconds, args.concurrency
            )
            load_after = [f"{x:.2f}" for x in os.getloadavg()]
    finally:
        await delete_readings(settings, stored)

    print(f"database: {settings.database_url.split('@')[-1]}, uvicorn workers: {args.workers}")
    if not args.submissions_only:
        print(f"latest readings, 100 devices (dashboard page): {describe(latest)}")
        print(
            f"usage report, 365 days by site and month, group administrator: {describe(usage_days)}"
        )
        print(
            f"usage report, 12 whole months by site, group administrator: {describe(usage_months)}"
        )
    print(
        f"submissions: {accepted / took:.0f} accepted/s sustained over {took:.1f} s "
        f"({accepted} accepted, {refused} refused, {args.concurrency} concurrent clients; "
        f"load average {' '.join(load_before)} before, {' '.join(load_after)} after)"
    )
    for name, count in statements.items():
        print(f"statements per request, {name}: {count}")
    for name, note in notes.items():
        print(f"{name}: {note}")


if __name__ == "__main__":
    asyncio.run(main())
