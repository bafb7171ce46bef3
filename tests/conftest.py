"""Test fixtures: one migrated database seeded with the small demo fleet per session; each test
runs inside a transaction that is rolled back, so every test starts from the same state.

DATABASE_URL picks the database (default: a fresh SQLite file); .ci/run runs the suite on both."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import time_machine
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.applications import Starlette

from app import create_app
from cli import migrate
from demo.fleet import DEMO_PASSWORD, seed_demo
from models.session import create_engine, create_sessionmaker
from settings import Settings
from tests.graphql import GraphQLClient


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    var_dir = tmp_path_factory.mktemp("var")
    url = os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{var_dir / 'test.sqlite3'}"
    base = Settings.from_env()
    return replace(
        base,
        database_url=url,
        var_dir=var_dir,
        environment="test",
        smtp_url=None,
        redis_url=None,
        oidc_issuer=None,
        login_max_failures=5,
        reading_reminders_enabled=False,  # tests run the reminders themselves
        silent_replenishment_enabled=False,  # and the silent-device pass
    )


async def _reset_postgres(settings: Settings) -> None:
    engine = create_engine(settings)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    if not settings.is_sqlite:
        await _reset_postgres(settings)
    await asyncio.to_thread(migrate, settings)
    engine = create_engine(settings)
    await seed_demo(engine, scale="small", progress=False)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


T = TypeVar("T")


class StatementCounter:
    """Counts SQL statements sent on the test's connection."""

    def __init__(self) -> None:
        self.count = 0
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            self.count += 1
            self.statements.append(statement)

    def reset(self) -> None:
        self.count = 0
        self.statements = []

    async def of(self, request: Awaitable[T]) -> tuple[T, int]:
        """The result of one request and how many statements it sent (for "costs the same
        statements whatever the page size" comparisons)."""
        self.reset()
        result = await request
        return result, self.count


@pytest.fixture
def statements(connection: AsyncConnection) -> Iterator[StatementCounter]:
    counter = StatementCounter()
    event.listen(connection.sync_connection, "before_cursor_execute", counter)
    yield counter
    event.remove(connection.sync_connection, "before_cursor_execute", counter)


async def caller_statements(gql: GraphQLClient, statements: StatementCounter, token: str) -> int:
    """What a request of this caller costs before its document is checked against its schema:
    reading who the caller is and what it holds (a document valid for every signed-in caller,
    like `{ __typename }`, skips even that). A refusal "before any SQL" costs exactly this; so
    does asking what the viewer holds, which the scope answers."""
    statements.reset()
    await gql("{ viewer { permissions } }", token=token)
    count = statements.count
    statements.reset()
    return count


def make_app(settings: Settings, connection: AsyncConnection) -> Starlette:
    """The app over the test's connection (and so its rolled-back transaction)."""
    sessionmaker = create_sessionmaker(connection, join_transaction_mode="create_savepoint")
    return create_app(settings, sessionmaker=sessionmaker)


@pytest.fixture
def app(settings: Settings, connection: AsyncConnection) -> Starlette:
    return make_app(settings, connection)


@pytest.fixture
async def committing_gql(settings: Settings, engine: AsyncEngine) -> AsyncIterator[GraphQLClient]:
    """A client whose every request runs on its own pooled connection and commits for real (for
    races between transactions); the test removes what it wrote."""
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield GraphQLClient(client)


ClientFactory = Callable[..., AbstractAsyncContextManager[GraphQLClient]]


@pytest.fixture
def client_with(settings: Settings, connection: AsyncConnection) -> ClientFactory:
    """`async with client_with(max_query_cost=10) as gql:` a client of an app whose settings
    differ from the session's (same rolled-back connection); `gql.http` is its raw httpx client
    and `gql.app` the app."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[GraphQLClient]:
        app = make_app(replace(settings, **overrides), connection)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            client = GraphQLClient(http)
            client.app = app  # type: ignore[attr-defined]
            yield client

    return make


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
def demo_password() -> str:
    return DEMO_PASSWORD


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that need PostgreSQL say so; on SQLite they are skipped, not silently passed.
    for item in items:
        if item.get_closest_marker("postgres") and not os.environ.get(
            "DATABASE_URL", ""
        ).startswith("postgresql"):
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL)"))


FREEZE_ENV = "PORTAL_FREEZE_AT"
_TRAVELLER = pytest.StashKey[Any]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: runs only against PostgreSQL")
    config.addinivalue_line(
        "markers", "dates: the outcome depends on the date (make test-dates runs these frozen)"
    )
    # PORTAL_FREEZE_AT=2027-02-28T23:30:00+00:00 starts the whole session at that instant (the
    # clock then ticks on), before the database is seeded, so the demo data, the app and the
    # tests all see the same day. tests/frozen_instants lists the instants CI tries.
    instant = os.environ.get(FREEZE_ENV)
    if instant:
        at = datetime.fromisoformat(instant)
        if at.tzinfo is None:
            raise pytest.UsageError(f"{FREEZE_ENV} needs an offset: {instant!r}")
        traveller = time_machine.travel(at, tick=True)
        traveller.start()
        config.stash[_TRAVELLER] = traveller


def pytest_unconfigure(config: pytest.Config) -> None:
    traveller = config.stash.get(_TRAVELLER, None)
    if traveller is not None:
        traveller.stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    instant = os.environ.get(FREEZE_ENV)
    return f"time frozen at {instant} (then ticking), {FREEZE_ENV}" if instant else None


ROOT = Path(__file__).resolve().parent.parent
