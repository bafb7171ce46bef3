"""Engine and session factory. One AsyncSession per GraphQL operation."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from typing import Any

from asyncpg import exceptions as pg
from sqlalchemy import event, exc
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from settings import Settings

# How long a SQLite writer waits for the write lock before giving up ("database is locked",
# answered SERVICE_UNAVAILABLE with Retry-After).
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option naming how a SQLite transaction begins: DEFERRED (readers) or IMMEDIATE.
SQLITE_BEGIN = "sqlite_begin"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy (not the driver) decide when transactions begin, so SAVEPOINT and
    # BEGIN IMMEDIATE work (SQLAlchemy's "serializable isolation / savepoints" recipe for
    # pysqlite and aiosqlite); turn on foreign keys, which SQLite leaves off by default. WAL:
    # readers never wait for the writer, nor the writer for readers.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


# One queue of writers per engine (and event loop): on SQLite, writers of this process wait
# their turn here, first come first served, holding no connection, rather than all polling
# SQLite's lock (its busy handler favours newcomers, so the longest waiters time out first).
_WRITER_QUEUES: weakref.WeakKeyDictionary[Any, dict[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)
_HELD_WRITER_QUEUE = "held_writer_queue"


def _writer_queue(engine: AsyncEngine) -> asyncio.Lock:
    queues = _WRITER_QUEUES.setdefault(engine.sync_engine, {})
    loop = asyncio.get_running_loop()
    if loop not in queues:
        for stale in [other for other in queues if other.is_closed()]:
            del queues[stale]
        queues[loop] = asyncio.Lock()
    return queues[loop]


async def begin_writing(session: AsyncSession) -> None:
    """Starts the session's next transaction as a writer. On SQLite it takes the database's write
    lock at BEGIN (BEGIN IMMEDIATE), after the writers of this process before it and queueing
    behind other processes' writers for up to the busy timeout: a transaction that reads first
    and writes later would otherwise fail at its first write ("database is locked", without
    waiting) whenever another writer committed after its read began. A transaction already open
    (the reads of a permission check) is committed first: it wrote nothing. The turn ends with
    the transaction (commit, rollback or close of the session). PostgreSQL: nothing to do (row
    locks where they matter). A session bound to one connection (the tests' rolled-back
    transaction) has no one to queue behind."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "sqlite":
        return
    if session.in_transaction():
        await session.commit()
    if _HELD_WRITER_QUEUE not in session.info:
        queue = _writer_queue(bind)
        try:
            await asyncio.wait_for(queue.acquire(), SQLITE_BUSY_TIMEOUT_MS / 1000)
        except TimeoutError:
            waited_too_long = True
        else:
            waited_too_long = False
        # As SQLite says after its busy timeout. Raised outside the `except`: the TimeoutError
        # must not be this error's context, or it would be taken for an outage (Retry-After 5).
        if waited_too_long:
            locked = sqlite3.OperationalError("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        session.info[_HELD_WRITER_QUEUE] = queue
    try:
        await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
    except BaseException:
        _end_turn(session)
        raise


def _end_turn(session: AsyncSession) -> None:
    queue = session.info.pop(_HELD_WRITER_QUEUE, None)
    if queue is not None:
        queue.release()


def is_database_busy(error: BaseException | None) -> bool:
    """SQLite's write lock still held by another writer after the busy timeout (SQLITE_BUSY,
    "database is locked"), or the same seen through the exceptions it caused."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, OperationalError):
            original = error.orig
            code = getattr(original, "sqlite_errorcode", None)
            if (isinstance(code, int) and code & 0xFF == 5) or "database is locked" in str(
                original
            ):
                return True
        error = error.__cause__ or error.__context__
        seen += 1
    return False


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
    # A server that accepts but does not answer (hung, or a network that drops packets) costs a
    # request at most these timeouts: asyncpg raises TimeoutError, an outage (503) for the client.
    kwargs.setdefault(
        "connect_args",
        {
            "server_settings": {"plan_cache_mode": "force_custom_plan"},
            "timeout": settings.database_connect_timeout_seconds,
            "command_timeout": settings.database_statement_timeout_seconds,
        },
    )
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

    async def execute_core(self, statement: Any, parameters: Any = None) -> Any:
        """A Core statement of plain rows on the session's connection, in its transaction and
        its queue: no ORM result processing, for rows that are only read."""
        async with self._guard():
            connection = await self.connection()
            return await connection.execute(statement, parameters)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._guard():
            return await super().get(*args, **kwargs)

    async def flush(self, *args: Any, **kwargs: Any) -> None:
        async with self._guard():
            await super().flush(*args, **kwargs)

    async def commit(self) -> None:
        try:
            async with self._guard():
                await super().commit()
        finally:
            _end_turn(self)

    async def rollback(self) -> None:
        try:
            async with self._guard():
                await super().rollback()
        finally:
            _end_turn(self)

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            _end_turn(self)

    async def refresh(self, *args: Any, **kwargs: Any) -> None:
        async with self._guard():
            await super().refresh(*args, **kwargs)

    async def run_sync(self, *args: Any, **kwargs: Any) -> Any:
        async with self._guard():
            return await super().run_sync(*args, **kwargs)


async def execute_core(session: AsyncSession, statement: Any, parameters: Any = None) -> Any:
    """`statement` (Core, plain rows) on the session's connection and in its transaction,
    without the ORM's result processing: for rows that are only read."""
    if isinstance(session, SerializedSession):
        return await session.execute_core(statement, parameters)
    connection = await session.connection()
    return await connection.execute(statement, parameters)


async def read_outside_transaction(
    engine: AsyncEngine, statement: Any, parameters: dict[str, Any]
) -> Any:
    """The first row of a small read that needs no snapshot shared with other statements, in
    the fewest round trips: on PostgreSQL without a transaction (each statement reads what was
    committed when it starts anyway, and BEGIN and ROLLBACK around it would be two round trips
    more than the read); on SQLite in a transaction of its own, which costs no round trip."""
    async with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        return (await connection.execute(statement, parameters)).first()


# After the kept connection could not be opened or lost the database, reads go through the
# pool for this long: each then waits for and fails on its own, instead of one after the other
# behind a read that hangs until its timeout.
KEPT_PAUSE_SECONDS = 5.0


class HeldConnection:
    """`read_outside_transaction` on one PostgreSQL connection this process keeps in autocommit,
    for reads made on every request: no pool checkout and check-in, no isolation level set and
    reset, each time (about half of such a read's CPU). Reads take turns on it. A connection a
    read failed or was cancelled on is dropped; when it had been kept from before and the
    failure says the connection was lost (the server restarted, or dropped it while idle), the
    read is tried once more on a new one. While the database cannot be reached, reads go through
    the pool (`KEPT_PAUSE_SECONDS`). Opened on first use, closed by `close()`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None
        self._turn = asyncio.Lock()
        self._failed_at: float | None = None

    async def first(self, statement: Any, parameters: dict[str, Any]) -> Any:
        async with self._turn:
            if not self._paused():
                return await self._read(statement, parameters)
        return await read_outside_transaction(self.engine, statement, parameters)

    def _paused(self) -> bool:
        failed_at = self._failed_at
        return failed_at is not None and time.monotonic() - failed_at < KEPT_PAUSE_SECONDS

    async def _read(self, statement: Any, parameters: dict[str, Any]) -> Any:
        while True:
            kept = self._connection is not None
            try:
                connection = self._connection or await self._open()
                return (await connection.execute(statement, parameters)).first()
            except BaseException as error:
                lost = database_unavailable(error)
                if self._connection is not None:
                    await _discard(self._connection)
                    self._connection = None
                if not (kept and lost):
                    if lost:
                        self._failed_at = time.monotonic()
                    raise

    async def _open(self) -> AsyncConnection:
        connection = await self.engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await _discard(connection)
            raise
        self._connection = connection
        return connection

    async def close(self) -> None:
        async with self._turn:
            connection, self._connection = self._connection, None
            if connection is not None:
                await _discard(connection)


async def _discard(connection: AsyncConnection) -> None:
    """Closes a connection whose state is not known, without returning it to the pool."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:  # it is being dropped because something went wrong with it already
        pass


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
    return isinstance(
        error,
        pg.PostgresConnectionError
        | pg.ConnectionDoesNotExistError
        | pg.CannotConnectNowError
        | pg.AdminShutdownError
        | pg.CrashShutdownError
        | pg.TooManyConnectionsError,
    )
