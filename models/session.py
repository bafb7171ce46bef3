"""Engine and session factory. One AsyncSession per GraphQL operation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from settings import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy (not the driver) decide when transactions begin, so SAVEPOINT and
    # BEGIN IMMEDIATE work; turn on foreign keys, which SQLite leaves off by default.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def create_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    if settings.is_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(settings.database_url, echo=settings.sql_echo, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # asyncpg prepares every statement and reuses it on the connection, and after five runs
    # PostgreSQL may switch a prepared statement to a generic plan, blind to its parameters:
    # for the devices text search that plan took 15 ms where the planned one takes 10 ms.
    # Plan with the actual values every time (a fraction of a millisecond for our statements).
    kwargs.setdefault("connect_args", {"server_settings": {"plan_cache_mode": "force_custom_plan"}})
    engine = create_async_engine(settings.database_url, echo=settings.sql_echo, **kwargs)
    event.listen(engine.sync_engine, "checkin", _note_checkin)
    event.listen(engine.sync_engine, "checkout", _ping_if_idle)
    return engine


# A connection back in the pool for longer than this is pinged before it is handed out again.
IDLE_PING_SECONDS = 10.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in_at"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Pings a connection that sat idle (a database restart or a dropped idle connection shows
    there), not one in steady use. SQLAlchemy's `pool_pre_ping` pings on every checkout: with
    asyncpg that is BEGIN, a ping and ROLLBACK, three round trips on every request. A failed
    ping makes the pool hand out a new connection instead."""
    checked_in_at = record.info.get("checked_in_at")
    if checked_in_at is None or time.monotonic() - checked_in_at < IDLE_PING_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise DisconnectionError(f"idle connection failed its ping: {error}") from error


class SerializedSession(AsyncSession):
    """An AsyncSession that queues its statements: GraphQL resolves sibling fields
    concurrently, and one session (one connection) takes one statement at a time."""

    _lock: asyncio.Lock | None = None

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._guard():
            return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._guard():
            return await super().scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._guard():
            return await super().get(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        async with self._guard():
            await super().flush(*args, **kwargs)

    async def commit(self) -> None:
        async with self._guard():
            await super().commit()

    async def rollback(self) -> None:
        async with self._guard():
            await super().rollback()

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        async with self._guard():
            await super().refresh(*args, **kwargs)

    async def run_sync(self, *args: Any, **kwargs: Any) -> Any:
        async with self._guard():
            return await super().run_sync(*args, **kwargs)


def create_sessionmaker(bind: Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=bind, class_=SerializedSession, expire_on_commit=False, autoflush=False, **kwargs
    )


# SQLite says these when its file cannot be reached; other SQLite OperationalErrors (a missing
# table, a syntax error, "database is locked") are not an outage.
_SQLITE_UNAVAILABLE = ("unable to open database file", "disk i/o error", "readonly database")


_LOCAL_FILE_ERRORS = FileNotFoundError | PermissionError | IsADirectoryError | NotADirectoryError


def database_unavailable(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from, says the database cannot be reached or lost
    the connection (refused, reset, timed out, shutting down): a fault to retry later, not a bug.
    Follows GraphQL errors' `original_error` and Python's `__cause__` / `__context__`."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable(current):
            return True
        current = (
            getattr(current, "original_error", None) or current.__cause__ or current.__context__
        )
    return False


def _unavailable(error: BaseException) -> bool:
    from sqlalchemy import exc

    if isinstance(error, _LOCAL_FILE_ERRORS):
        return False  # a file of ours, not the database server
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError | OSError | TimeoutError):
        return True  # OSError: refused, reset, unreachable; TimeoutError: connect or pool wait
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, exc.OperationalError):
            message = str(error.orig).lower()
            return any(text in message for text in _SQLITE_UNAVAILABLE)
        return False
    try:
        from asyncpg import exceptions as pg
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return isinstance(
        error,
        pg.PostgresConnectionError
        | pg.ConnectionDoesNotExistError
        | pg.CannotConnectNowError
        | pg.AdminShutdownError
        | pg.CrashShutdownError
        | pg.TooManyConnectionsError,
    )
