"""What a request cannot do without, on this machine: CPU per call of the pieces issue 15's
goals are measured against, in process, one after the other in one run.

- `{ __typename }`: a bare Starlette app answering a constant (`bench/bare.py`), graphql-core's
  `execute` of the parsed document, strawberry's `Schema.execute` with no extension and no
  cache, our signed-in audience schema's `execute` (parser and validation caches, the
  extension chain; no request context), and the whole portal app;
- one database round trip: asyncpg on a held connection, a SQLAlchemy session on a held
  connection, and a session from the pool (checkout, BEGIN, the statement, ROLLBACK).

    .venv/bin/python -m bench.floors [--calls N]

PostgreSQL is the `bench` database of `bench/fleet.py` (no table is read)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import strawberry
from graphql import execute, parse
from sqlalchemy import literal, select

from bench.fleet import BENCH_ENV, PG_URL

WARM_UP = 200
TYPENAME = "{ __typename }"


async def cpu_ms(call: Callable[[], Awaitable[Any]], calls: int) -> float:
    """Median-free mean CPU ms per call after a warm-up: the calls are alike and short."""
    for _ in range(WARM_UP):
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls * 1000


async def asgi_post(app: Any, body: bytes) -> None:
    """One POST /graphql through an ASGI app, the body in one message, the answer dropped."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


@strawberry.type
class _Query:
    answer: int = 1


async def main_async(calls: int) -> None:
    os.environ.update(BENCH_ENV)
    from app import create_app
    from bench.bare import app as bare
    from models.session import create_engine, create_sessionmaker
    from schema.audiences import SIGNED_IN_AUDIENCE
    from schema.root import schema
    from settings import Settings

    settings = replace(Settings.from_env(), database_url=PG_URL)
    engine = create_engine(settings)
    sessions = create_sessionmaker(engine)
    portal = create_app(settings, sessionmaker=sessions)
    signed_in = schema.for_audience(SIGNED_IN_AUDIENCE)
    plain = strawberry.Schema(_Query)
    document = parse(TYPENAME)
    body = b'{"query":"{ __typename }"}'

    async def core_execute() -> None:
        execute(signed_in._schema, document)

    rows: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("bare Starlette app, constant answer (ASGI call)", lambda: asgi_post(bare, body)),
        ("graphql-core execute, document parsed once", core_execute),
        ("strawberry Schema.execute, no extension, no cache", lambda: plain.execute(TYPENAME)),
        ("our audience schema's execute, no request context", lambda: signed_in.execute(TYPENAME)),
        ("the portal app (ASGI call), anonymous", lambda: asgi_post(portal, body)),
    ]
    statement = select(literal(1))

    async def pooled_session() -> None:
        async with sessions() as session:
            await session.execute(statement)

    async with portal.router.lifespan_context(portal):
        gc.collect()
        gc.freeze()
        print(f"{TYPENAME}, CPU ms per call ({calls} calls each):")
        for label, call in rows:
            print(f"  {label:<55} {await cpu_ms(call, calls):.4f}")
        print("one database round trip, PostgreSQL, CPU ms per call:")
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            print(f"  {'asyncpg fetchval, connection held':<55} "
                  f"{await cpu_ms(lambda: raw.fetchval('SELECT 1'), calls):.4f}")  # fmt: skip
            async with sessions(bind=connection) as session:
                print(f"  {'SQLAlchemy session execute, connection held':<55} "
                      f"{await cpu_ms(lambda: session.execute(statement), calls):.4f}")  # fmt: skip
        print(f"  {'SQLAlchemy session from the pool: BEGIN, it, ROLLBACK':<55} "
              f"{await cpu_ms(pooled_session, calls):.4f}")  # fmt: skip
    await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.floors", description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.calls))


if __name__ == "__main__":
    main()
