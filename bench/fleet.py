"""Fleet benchmark: the dashboard query of issue 4 for the group administrator over the `large`
demo fleet (20,000 devices, 200 sites, > 3 M readings), on SQLite and PostgreSQL.

For each query (first page, deep page, filtered search) it prints median and p95 latency
- `asgi`:  in-process through the whole app (auth, GraphQL, orjson), no socket;
- `http`:  over HTTP on loopback, uvicorn in a subprocess;
- `exec`:  `schema.execute` with a real context (data access, scope, permissions);
- `floor`: `schema.execute` of the same schema over the same rows already in memory (loaders
           replay what a real run loaded, the root list is pre-built, a global stub scope):
           GraphQL execution itself, without data access or access rules;
- `raw`:   hand-written SQL in three statements + orjson, the lower bound;
then SQL statements per request and the two ratios of the issue: exec / floor (goal <= 1.5 on
PostgreSQL) and asgi / raw.

    python -m bench.fleet [--db sqlite,postgres] [--runs 30] [--no-http]

Loads the fleet first when the bench databases are empty (SQLite: var/bench/fleet.sqlite3;
PostgreSQL: database `bench`, or `BENCH_PG_DATABASE`; created when missing) and prints how long
that took.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.load import server
from core import clock
from tests.queries import QUERY_DASHBOARD
from tests.servers import free_port, uvicorn_command

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var" / "bench"
SQLITE_URL = f"sqlite+aiosqlite:///{VAR_DIR / 'fleet.sqlite3'}"
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+asyncpg://postgres@127.0.0.1:5432")
PG_DATABASE = os.environ.get("BENCH_PG_DATABASE", "bench")
PG_URL = f"{PG_SERVER}/{PG_DATABASE}"
ADMIN = "admin@acme.example"

# Limits are for abusive clients; the benchmark sends the same query many times in a row.
BENCH_ENV = {
    "PORTAL_VAR_DIR": str(VAR_DIR),
    "RATE_LIMIT_CAPACITY": str(10**9),
    "RATE_LIMIT_RESTORE_RATE": str(10**9),
    "MAX_QUERY_COST": str(100_000),
    "ACCESS_TOKEN_TTL_SECONDS": str(6 * 3600),
    "PORTAL_ENV": "development",
    # the periodic passes (reminders, orders for silent devices) run once at start-up and then
    # hourly: not what the figures measure
    "READING_REMINDERS_ENABLED": "false",
    "SILENT_REPLENISHMENT_ENABLED": "false",
}

SEARCH_FILTER = {"search": "room 12", "eMaintenance": True, "contract": {"state": "ACTIVE"}}
DEEP_OFFSET = 15_000


@dataclass
class Case:
    name: str
    variables: dict[str, Any]


@dataclass
class Timing:
    samples: list[float]  # wall clock, seconds
    cpu: list[float]  # this process's CPU time, seconds (load-independent; excludes the
    # PostgreSQL server's work, includes SQLite's, which runs in this process)

    @property
    def median(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu) * 1000

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000


async def timed_together(
    modes: Mapping[str, Callable[[], Awaitable[Any]]], runs: int, warmup: int = 3
) -> dict[str, Timing]:
    """Runs one of each mode per round, so that load swings on a shared machine weigh on
    every mode alike (the ratios compare modes measured side by side)."""
    for _ in range(warmup):
        for fn in modes.values():
            await fn()
    samples: dict[str, list[float]] = {name: [] for name in modes}
    cpu: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(runs):
        for name, fn in modes.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            await fn()
            samples[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    return {name: Timing(samples[name], cpu[name]) for name in modes}


# --- loading -----------------------------------------------------------------------------------


async def ensure_pg_database() -> None:
    import asyncpg

    dsn = PG_SERVER.replace("postgresql+asyncpg", "postgresql") + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", PG_DATABASE):
            await conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await conn.close()


async def ensure_loaded(settings: Any, scale: str = "large", usage: str = "independent") -> None:
    """Migrates, and loads the `scale` fleet when the database is empty (`usage`: the generator
    of the pages printed, demo/usage.py); fresh planner statistics."""
    from sqlalchemy import text

    from cli import migrate
    from demo.fleet import is_empty, seed_demo
    from models.session import create_engine

    if not settings.is_sqlite:
        await ensure_pg_database()
    await asyncio.to_thread(migrate, settings)
    engine = create_engine(replace(settings, database_statement_timeout_seconds=3600.0))
    try:
        if await is_empty(engine):
            print(f"  loading the {scale} fleet into {_where(settings)} ...", flush=True)
            started = time.perf_counter()
            await seed_demo(engine, scale=scale, progress=False, usage=usage)
            print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)
        # Fresh planner statistics and, on PostgreSQL, the visibility map a steady database has
        # (autovacuum may not have run since the bulk load; without it counts cannot be
        # answered from an index alone). VACUUM runs outside a transaction.
        async with engine.connect() as conn:
            if settings.is_sqlite:
                await conn.execute(text("ANALYZE"))
                await conn.commit()
            else:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def _where(settings: Any) -> str:
    return "SQLite" if settings.is_sqlite else "PostgreSQL"


# --- the engine floor: same schema, rows in memory ---------------------------------------------


class Replay:
    """A loader that answers from what a real run loaded: like a loader whose cache holds the
    key, `load` gives a future already done."""

    def __init__(self, data: dict[Any, Any]) -> None:
        self.data = data

    def load(self, key: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(self.data[key])
        return future

    async def load_many(self, keys: Any) -> list[Any]:
        return [self.data[k] for k in keys]


class ReplayLoaders:
    def __init__(self, recorded: dict[type[Any], dict[Any, Any]]) -> None:
        self.replays = {cls: Replay(data) for cls, data in recorded.items()}

    def __getitem__(self, loader_class: type[Any]) -> Any:
        return self.replays[loader_class]


def recorded_loads(loaders: Any) -> dict[type[Any], dict[Any, Any]]:
    made = loaders._made
    return {
        cls: {key: future.result() for key, future in loader._cache.items()}
        for cls, loader in made.items()
    }


@contextlib.contextmanager
def root_list(build: Callable[..., Awaitable[Any]]) -> Iterator[None]:
    import schema.devices as schema_devices

    original = schema_devices.device_list
    schema_devices.device_list = build  # type: ignore[assignment]
    try:
        yield
    finally:
        schema_devices.device_list = original


# --- the raw lower bound: hand-written SQL + orjson ---------------------------------------------

RAW_PAGE = """
SELECT d.id, d.serial_number, d.location_description, d.status,
       m.name, s.name, s.city, s.country, s.time_zone, a.name, a.customer_account_number,
       c.starts_on, c.ends_on, sl.name,
       (SELECT count(*) FROM tickets t WHERE t.device_id = d.id
          AND t.status IN ('NEW', 'ASSIGNED', 'IN_PROGRESS', 'ON_HOLD')) AS open_tickets
FROM devices d
JOIN sites s ON s.id = d.site_id
JOIN accounts a ON a.id = d.account_id
JOIN product_models m ON m.id = d.product_model_id
LEFT JOIN contracts c ON c.id = d.contract_id
LEFT JOIN stock_locations sl ON sl.id = d.stock_location_id
WHERE d.account_id IN ({accounts}) {extra}
ORDER BY s.name, d.serial_number, d.id
LIMIT 101
"""

RAW_COUNT = "SELECT count(*) FROM devices d WHERE d.account_id IN ({accounts}) {extra}"

RAW_READINGS = """
SELECT pm.device_id, pm.meter, r.value, r.reading_date
FROM (SELECT d.id AS device_id, mm.meter,
             (SELECT max(x.reading_date) FROM meter_readings x
               WHERE x.device_id = d.id AND x.meter = mm.meter) AS newest
        FROM devices d JOIN product_model_meters mm ON mm.product_model_id = d.product_model_id
       WHERE d.id IN ({ids})) pm
LEFT JOIN meter_readings r
  ON r.device_id = pm.device_id AND r.meter = pm.meter AND r.reading_date = pm.newest
"""


def _global_id(type_name: str, pk: int) -> str:
    from core.ids import global_id

    return global_id(type_name, pk)


async def raw_dashboard(
    engine: Any, account_ids: list[int], case: str, cursor: tuple[str, str, int] | None
) -> bytes:
    from datetime import date

    import orjson
    from sqlalchemy import text

    from resolvers.pagination import encode_cursor

    accounts = ", ".join(str(int(a)) for a in account_ids)
    extra, params = "", {}
    if case == "search":
        extra = (
            "AND (lower(d.serial_number) LIKE :q OR lower(d.asset_tag) LIKE :q"
            " OR lower(d.location_description) LIKE :q) AND d.e_maintenance"
            " AND d.contract_id IN (SELECT id FROM contracts"
            " WHERE starts_on <= :today AND ends_on >= :today)"
        )
        params = {"q": "%room 12%", "today": clock.utc_today()}
    page_extra = extra
    page_params = dict(params)
    if cursor is not None:
        page_extra += " AND (s.name, d.serial_number, d.id) > (:c0, :c1, :c2) AND s.name >= :c0"
        page_params.update(c0=cursor[0], c1=cursor[1], c2=cursor[2])
    today = clock.utc_today()
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(RAW_PAGE.format(accounts=accounts, extra=page_extra)), page_params
            )
        ).all()
        total = (
            await conn.execute(text(RAW_COUNT.format(accounts=accounts, extra=extra)), params)
        ).scalar()
        has_next = len(rows) > 100
        rows = rows[:100]
        readings: dict[int, list[dict[str, Any]]] = {}
        if rows:
            ids = ", ".join(str(int(r[0])) for r in rows)
            for device_id, meter, value, day in (
                await conn.execute(text(RAW_READINGS.format(ids=ids)))
            ).all():
                readings.setdefault(device_id, []).append(
                    {
                        "meter": meter,
                        "reading": None if value is None else {"value": value, "readingDate": day},
                    }
                )
    edges = []
    for r in rows:
        starts, ends = r[11], r[12]
        if isinstance(starts, str):  # SQLite hands back ISO text
            starts, ends = date.fromisoformat(starts), date.fromisoformat(ends)
        edges.append(
            {
                "node": {
                    "id": _global_id("Device", r[0]),
                    "serialNumber": r[1],
                    "locationDescription": r[2],
                    "status": r[3],
                    "model": {"name": r[4]},
                    "site": {"name": r[5], "city": r[6], "country": r[7], "timeZone": r[8]},
                    "account": {"name": r[9], "customerAccountNumber": r[10]},
                    "contract": None
                    if ends is None
                    else {"active": starts <= today <= ends, "endsOn": ends},
                    "latestReadings": readings.get(r[0], []),
                    "openTicketCount": r[14],
                    "stockLocation": None if r[13] is None else {"name": r[13]},
                }
            }
        )
    end_cursor = encode_cursor([rows[-1][5], rows[-1][1], rows[-1][0]]) if rows else None
    return orjson.dumps(
        {
            "data": {
                "devices": {
                    "totalCount": total,
                    "pageInfo": {"hasNextPage": has_next, "endCursor": end_cursor},
                    "edges": edges,
                }
            }
        }
    )


# --- one database -------------------------------------------------------------------------------


@contextlib.contextmanager
def uvicorn_server(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, **BENCH_ENV, "DATABASE_URL": database_url}
    with server(uvicorn_command(port, "--no-access-log"), env, cwd=str(ROOT)) as process:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None:
                raise RuntimeError("uvicorn exited")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"


async def bench_database(
    database_url: str, runs: int, http: bool, scale: str = "large"
) -> list[dict[str, Any]]:
    """Measures the three dashboard queries; `scale` is the fleet loaded into an empty
    database (the deep page starts after row 15,000 of the large fleet, row 100 of the small)."""
    import httpx
    from sqlalchemy import event, select, text
    from starlette.requests import Request

    from app import create_app
    from auth.policy import Permission
    from auth.principal import Principal
    from demo.fleet import DEMO_PASSWORD
    from models import Account, User
    from models.session import create_engine, create_sessionmaker
    from resolvers.context import Context
    from resolvers.pagination import encode_cursor
    from resolvers.scoping import Scope
    from schema.devices import DeviceConnection
    from schema.root import schema
    from settings import Settings

    os.environ.update(BENCH_ENV)
    settings = replace(Settings.from_env(), database_url=database_url)
    print(f"\n== {_where(settings)} ==   load average {os.getloadavg()[0]:.1f}", flush=True)
    await ensure_loaded(settings, scale)
    deep_offset = DEEP_OFFSET if scale == "large" else 100

    engine = create_engine(settings)
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    sessionmaker = create_sessionmaker(engine)
    app = create_app(settings, sessionmaker=sessionmaker)
    services = app.state.services if hasattr(app.state, "services") else None
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench")
    # the same app on graphql-core's standard path (`schema.compiled` off): the `*0` modes
    standard = replace(settings, compiled_execution=False)
    app0 = create_app(standard, sessionmaker=sessionmaker)
    client0 = httpx.AsyncClient(transport=httpx.ASGITransport(app=app0), base_url="http://bench")

    login = await client.post(
        "/graphql",
        json={
            "query": "mutation($e: String!, $p: String!) { login(input: {email: $e, "
            "password: $p}) { accessToken userErrors { code } } }",
            "variables": {"e": ADMIN, "p": DEMO_PASSWORD},
        },
    )
    token = login.json()["data"]["login"]["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}

    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == ADMIN))
        assert user is not None
        acme = [
            a
            for (a,) in (
                await session.execute(select(Account.id).where(Account.name.like("Acme%")))
            ).all()
        ]
        deep = (
            await session.execute(
                text(
                    "SELECT s.name, d.serial_number, d.id FROM devices d "
                    "JOIN sites s ON s.id = d.site_id WHERE d.account_id IN "
                    f"({', '.join(str(a) for a in acme)}) "
                    f"ORDER BY s.name, d.serial_number, d.id LIMIT 1 OFFSET {deep_offset - 1}"
                )
            )
        ).one()
    deep_cursor = encode_cursor([deep[0], deep[1], deep[2]])
    cases = [
        Case("first page", {}),
        Case(f"deep page (after row {deep_offset})", {"after": deep_cursor}),
        Case("filtered search", {"filter": SEARCH_FILTER}),
    ]
    raw_cursor = {cases[1].name: (deep[0], deep[1], int(deep[2]))}

    if services is None:
        from auth.tokens import TokenService
        from resolvers.context import AppServices

        services = AppServices(
            settings=settings, sessionmaker=sessionmaker, tokens=TokenService(settings)
        )
    services_ = services
    services0 = replace(services, settings=standard)

    def real_context(compiled: bool = True) -> Context:
        request = Request({"type": "http", "method": "POST", "headers": [], "path": "/graphql"})
        return Context(
            services=services_ if compiled else services0,
            request=request,
            response=None,
            request_id="bench",
            principal=Principal(user_id=user.id),
        )

    import schema.devices as schema_devices

    real_connection = schema_devices.device_list
    stub_scope = Scope(
        principal=Principal(user_id=user.id), user=user, global_permissions=frozenset(Permission)
    )
    results: list[dict[str, Any]] = []
    server = uvicorn_server(database_url) if http else contextlib.nullcontext(None)
    with server as base_url:
        http_client = httpx.AsyncClient(base_url=base_url, timeout=60) if base_url else None

        async def measure(case: Case) -> dict[str, Any]:
            body = {"query": QUERY_DASHBOARD, "variables": case.variables}

            async def asgi() -> None:
                response = await client.post("/graphql", json=body, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json(), (
                    response.text[:500]
                )

            async def asgi0() -> None:
                response = await client0.post("/graphql", json=body, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json(), (
                    response.text[:500]
                )

            async def over_http() -> None:
                assert http_client is not None
                response = await http_client.post("/graphql", json=body, headers=headers)
                assert response.status_code == 200 and "errors" not in response.json()

            async def execute(compiled: bool = True) -> None:
                result = await schema.execute(
                    QUERY_DASHBOARD,
                    variable_values=case.variables,
                    context_value=real_context(compiled),
                )
                assert not result.errors, result.errors

            async def execute0() -> None:
                await execute(compiled=False)

            # One real run, recorded: what each loader loaded, and the root page.
            recorded_context = real_context()
            captured: dict[str, Any] = {}

            async def capture(*args: Any, **kwargs: Any) -> Any:
                connection = await real_connection(*args, **kwargs)
                captured["connection"] = connection
                captured["total"] = await connection._count()
                return connection

            # the operation's end drops the context's loaders: keep a hold of them
            loaders = recorded_context.loaders
            with root_list(capture):
                reference = await schema.execute(
                    QUERY_DASHBOARD, variable_values=case.variables, context_value=recorded_context
                )
            assert not reference.errors, reference.errors
            recorded = recorded_loads(loaders)
            page, total = captured["connection"], int(captured["total"])

            async def constant_total() -> int:
                return total

            async def root(info: Any, *args: Any, **kwargs: Any) -> Any:
                """The floor's root list is the recorded page; every other run the real one."""
                if isinstance(info.context._loaders, ReplayLoaders):
                    return DeviceConnection(
                        edges=page.edges, page_info=page.page_info, _count=constant_total
                    )
                return await real_connection(info, *args, **kwargs)

            def floor_context(compiled: bool = True) -> Context:
                context = real_context(compiled)
                context._loaders = ReplayLoaders(recorded)  # type: ignore[assignment]
                done: asyncio.Future[Scope] = asyncio.get_running_loop().create_future()
                done.set_result(stub_scope)
                context._scope_task = done  # type: ignore[assignment]
                return context

            async def floor(compiled: bool = True) -> None:
                before = statements[0]
                result = await schema.execute(
                    QUERY_DASHBOARD,
                    variable_values=case.variables,
                    context_value=floor_context(compiled),
                )
                assert not result.errors, result.errors
                assert result.data == reference.data
                assert statements[0] == before, "the floor must not touch the database"

            async def floor0() -> None:
                await floor(compiled=False)

            async def raw() -> None:
                await raw_dashboard(
                    engine,
                    acme,
                    "search" if case.variables.get("filter") else "plain",
                    raw_cursor.get(case.name),
                )

            statements[0] = 0
            await asgi()
            row: dict[str, Any] = {"query": case.name, "statements": statements[0]}
            modes = {
                "asgi": asgi,
                "asgi0": asgi0,
                "exec": execute,
                "exec0": execute0,
                "floor": floor,
                "floor0": floor0,
                "raw": raw,
            }
            if http_client is not None:
                modes["http"] = over_http
            with root_list(root):
                row.update(await timed_together(modes, runs))
            row["devices"] = len(reference.data["devices"]["edges"])  # type: ignore[index]
            row["load"] = os.getloadavg()[0]
            return row

        # in-process modes run without the app's lifespan: settle the heap as it does
        from app import settle_heap

        settle_heap()
        for case in cases:
            row = await measure(case)
            results.append(row)
            _print_row(row)
        if http_client is not None:
            await http_client.aclose()
    await client.aclose()
    await client0.aclose()
    await engine.dispose()
    return results


def _print_row(row: dict[str, Any]) -> None:
    parts = [
        f"  {row['query']}: {row['devices']} devices, {row['statements']} SQL statements"
        f" (load average {row['load']:.1f})"
    ]
    for mode in ("asgi", "asgi0", "http", "exec", "exec0", "floor", "floor0", "raw"):
        timing = row.get(mode)
        if timing is not None:
            parts.append(
                f"    {mode:<6} median {timing.median:7.2f} ms   p95 {timing.p95:7.2f} ms"
                f"   cpu median {timing.cpu_median:7.2f} ms"
            )
    ratio1 = row["exec"].median / row["floor"].median
    ratio2 = row["asgi"].median / row["raw"].median
    cpu1 = row["exec"].cpu_median / row["floor"].cpu_median
    cpu2 = row["asgi"].cpu_median / row["raw"].cpu_median
    parts.append(
        f"    ratio 1 (exec / engine floor) {ratio1:.2f}   ratio 2 (asgi / raw) {ratio2:.2f}"
        f"   (on CPU time: {cpu1:.2f} and {cpu2:.2f})"
    )
    if "exec0" in row:
        cpu1 = row["exec0"].cpu_median / row["floor0"].cpu_median
        cpu2 = row["asgi0"].cpu_median / row["raw"].cpu_median
        parts.append(
            f"    standard path (compiled execution off): CPU ratio 1 {cpu1:.2f}"
            f"   CPU ratio 2 {cpu2:.2f}"
        )
    print("\n".join(parts), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.fleet", description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per query and mode")
    parser.add_argument("--no-http", action="store_true", help="skip the uvicorn subprocess")
    args = parser.parse_args(argv)
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    urls = {"sqlite": SQLITE_URL, "postgres": PG_URL}
    for name in args.db.split(","):
        asyncio.run(bench_database(urls[name.strip()], args.runs, not args.no_http))


if __name__ == "__main__":
    main()
