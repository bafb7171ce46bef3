"""`make bench`: every figure of issue 15's table in one run, each ratio measured side by side,
ending with one line of all ratios.

    python -m bench.summary [--small] [--runs N] [--seconds S]

- dashboard (100 devices, group administrator): CPU of the whole request in-process against
  the hand-written lower bound (ratio 2) and against GraphQL execution over rows already in
  memory (ratio 1), from `bench/fleet.py`;
- `{ __typename }` anonymous and `{ viewer { user { email } } }` signed in, over HTTP to one
  uvicorn worker, against a bare Starlette app under the same uvicorn answering a constant
  (`bench/bare.py`): server CPU per request and requests per second, both servers up at once
  and measured alternately;
- the dashboard over HTTP at 1, 4 and 16 connections: requests per second;
- `submitMeterReadings` on one worker: accepted per second (`bench/meters.py`).

The default runs on the large fleet in the PostgreSQL database `bench` (loaded when empty, a
few minutes); `--small` on the small demo fleet in a fresh SQLite file, in about a minute.
Load generation (`bench/load.py`) runs in this process; the servers in their own."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.fleet import BENCH_ENV, PG_URL, ROOT, bench_database, ensure_loaded
from bench.load import Load, hammer, request_bytes, server
from tests.queries import QUERY_DASHBOARD
from tests.servers import HOST, free_port, uvicorn_command, wait_healthy

ADMIN = "admin@acme.example"
LOGIN = """mutation($e: String!) { login(input: {email: $e, password: "demo-password"})
  { accessToken } }"""
TYPENAME = b'{"query":"{ __typename }"}'
VIEWER = b'{"query":"{ viewer { user { email } } }"}'


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Figures:
    """What the summary line is made of, in the order of the issue's table."""

    lines: list[str] = field(default_factory=list)
    ratios: dict[str, str] = field(default_factory=dict)

    def add(self, text: str) -> None:
        self.lines.append(text)
        print(text, flush=True)


def bare_command(port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "bench.bare:app", "--host", HOST, "--port", str(port),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def no_errors(status: int, body: bytes) -> None:
    if status != 200 or b'"errors"' in body:
        raise RuntimeError(f"HTTP {status}: {body[:300]!r}")


async def alternate(runs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[Load]]:
    """Runs each measurement once per round, in turn, so load swings weigh on all alike."""
    results: dict[str, list[Load]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            results[name].append(await run())
    return results


def median_of(loads: list[Load], attribute: str) -> float:
    return float(statistics.median(getattr(load, attribute) for load in loads))


async def http_figures(database_url: str, seconds: float, rounds: int, figures: Figures) -> None:
    env = {**BENCH_ENV, "DATABASE_URL": database_url}
    portal_port, bare_port = free_port(), free_port()
    with (
        server(uvicorn_command(portal_port, "--no-access-log"), env, str(ROOT)) as portal,
        server(bare_command(bare_port), env, str(ROOT)) as bare,
    ):
        await wait_healthy(f"http://{HOST}:{portal_port}", lambda: portal.poll() is not None)
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{portal_port}") as http:
            login = await http.post("/graphql", json={"query": LOGIN, "variables": {"e": ADMIN}})
            token = login.json()["data"]["login"]["accessToken"]
        auth = {"Authorization": f"Bearer {token}"}
        portal_host, bare_host = f"{HOST}:{portal_port}", f"{HOST}:{bare_port}"

        def run(port: int, pid: int, body: bytes, headers: Any, connections: int) -> Any:
            host = f"{HOST}:{port}"
            prepared = request_bytes(host, "/graphql", body, headers)
            return lambda: hammer(
                HOST, port, prepared, connections=connections, seconds=seconds,
                server_pid=pid, check=no_errors,
            )  # fmt: skip

        # warm both up (caches, audience schemas, connection pool)
        await run(portal_port, portal.pid, VIEWER, auth, 4)()
        await run(bare_port, bare.pid, TYPENAME, None, 4)()
        del portal_host, bare_host

        loads = await alternate(
            {
                "bare": run(bare_port, bare.pid, TYPENAME, None, 8),
                "typename": run(portal_port, portal.pid, TYPENAME, None, 8),
                "viewer": run(portal_port, portal.pid, VIEWER, auth, 8),
            },
            rounds,
        )
        bare_cpu, bare_rate = (
            median_of(loads["bare"], "cpu_ms"),
            median_of(loads["bare"], "per_second"),
        )
        figures.add(
            f"  bare Starlette, constant answer: {bare_rate:,.0f} req/s, "
            f"server CPU {bare_cpu:.3f} ms/request   (load {load_average()})"
        )
        for name, label, goal in (
            ("typename", "{ __typename }, anonymous", 3.0),
            ("viewer", "{ viewer { user { email } } }, signed in", 6.0),
        ):
            cpu, rate = median_of(loads[name], "cpu_ms"), median_of(loads[name], "per_second")
            figures.add(
                f"  {label}: {rate:,.0f} req/s, server CPU {cpu:.3f} ms/request: "
                f"{cpu / bare_cpu:.1f}x bare on CPU, {bare_rate / rate:.1f}x on req/s (goal <= {goal:g}x)"
            )
            figures.ratios[f"{name}/bare CPU"] = f"{cpu / bare_cpu:.1f}x (<= {goal:g})"

        dashboard = orjson.dumps({"query": QUERY_DASHBOARD})
        rates = []
        for connections in (1, 4, 16):
            load = await run(portal_port, portal.pid, dashboard, auth, connections)()
            rates.append(load.per_second)
            figures.add(
                f"  dashboard over HTTP, {connections:>2} connections: {load.per_second:6.1f} req/s, "
                f"median {load.median_ms:6.1f} ms, server CPU {load.cpu_ms:.1f} ms/request   "
                f"(load {load_average()})"
            )
        figures.ratios["dashboard req/s at 1/4/16"] = "/".join(f"{r:.0f}" for r in rates)


async def dashboard_figures(database_url: str, scale: str, runs: int, figures: Figures) -> None:
    rows = await bench_database(database_url, runs, http=False, scale=scale)
    first = rows[0]
    cpu1 = first["exec"].cpu_median / first["floor"].cpu_median
    cpu2 = first["asgi"].cpu_median / first["raw"].cpu_median
    figures.add(
        f"  dashboard first page: whole request {first['asgi'].cpu_median:.1f} ms CPU, "
        f"raw bound {first['raw'].cpu_median:.1f} ms: ratio 2 {cpu2:.1f} (goal <= 5); "
        f"ratio 1 (exec / engine floor) {cpu1:.2f} (goal <= 1.5)"
    )
    figures.ratios["dashboard ratio 2 CPU"] = f"{cpu2:.1f} (<= 5)"
    figures.ratios["ratio 1 CPU"] = f"{cpu1:.2f} (<= 1.5)"


async def write_figures(database_url: str, seconds: float, figures: Figures) -> None:
    from bench.meters import submissions_per_second

    rate, accepted = await submissions_per_second(database_url, seconds=max(seconds, 5.0))
    figures.add(
        f"  submitMeterReadings, one worker, 16 clients: {rate:.0f} accepted/s "
        f"({accepted} accepted; goal >= 500)   (load {load_average()})"
    )
    figures.ratios["writes/s"] = f"{rate:.0f} (>= 500)"


async def main_async(small: bool, runs: int, seconds: float) -> Figures:
    figures = Figures()
    print(f"load average at start {load_average()}", flush=True)
    with contextlib.ExitStack() as stack:
        if small:
            var = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            database_url, scale = f"sqlite+aiosqlite:///{var / 'bench.sqlite3'}", "small"
        else:
            database_url, scale = PG_URL, "large"
        os.environ.update(BENCH_ENV)
        from dataclasses import replace

        from settings import Settings

        await ensure_loaded(replace(Settings.from_env(), database_url=database_url), scale)
        await dashboard_figures(database_url, scale, runs, figures)
        await http_figures(database_url, seconds, 2 if small else 3, figures)
        await write_figures(database_url, seconds, figures)
    print(
        "\nsummary: "
        + "; ".join(f"{name} {value}" for name, value in figures.ratios.items())
        + f"   (load average {load_average()})",
        flush=True,
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.summary", description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="small demo fleet on SQLite, ~1 min")
    parser.add_argument("--runs", type=int, default=None, help="in-process runs per mode")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per HTTP load run")
    args = parser.parse_args(argv)
    runs = args.runs or (10 if args.small else 30)
    seconds = args.seconds or (2.0 if args.small else 5.0)
    sys.path.insert(0, str(ROOT))
    asyncio.run(main_async(args.small, runs, seconds))


if __name__ == "__main__":
    main()
