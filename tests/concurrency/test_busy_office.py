"""A busy office on the embedded default (a SQLite file) and, when DATABASE_URL names one, on
PostgreSQL: concurrent sign-ins and ticket creations through one real uvicorn server, each
request committing on its own connection. No request fails unexpectedly (INTERNAL); a write is
done, or refused with a code and not done; every write done has its audit entry."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

import models.session
from app import create_app
from models import AuditLogEntry, LoginThrottle, Ticket
from models.session import create_engine, create_sessionmaker
from settings import Settings
from tests.concurrency.office import (
    LOGIN_ACTION,
    TICKET_ACTION,
    TICKET_CREATOR,
    answer_kind,
    fresh_database,
    office_writes_removed,
    run_office,
)
from tests.graphql import QUERY_LOGIN, GraphQLClient, Response
from tests.servers import serving
from tests.tickets.support import CREATE_TICKET, covered_device

SIGN_INS = 50
TICKETS = 50
# The only refusal a busy database may give: retry later, nothing was done.
BUSY = "SERVICE_UNAVAILABLE"
# How long the office's writers may wait for their turn (SQLite), or for a connection
# (PostgreSQL): as long as the client waits for its answer (run_office), so that a slow machine
# (the suite on two busy cores takes 30 s and more where an idle one takes 10) answers late
# rather than BUSY. What a writer waiting past the busy timeout is answered is the business of
# the tests at the end of this module.
OFFICE_WAIT_SECONDS = 120
OFFICE_BUSY_TIMEOUT_MS = OFFICE_WAIT_SECONDS * 1000


@pytest.fixture(scope="module")
async def sqlite_office(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Settings, AsyncEngine]]:
    """A fresh SQLite file with the demo fleet, whatever DATABASE_URL says (the embedded
    default is what a small office runs). Same signing key as the session's app, whose tokens
    the test client keeps."""
    path = tmp_path_factory.mktemp("office") / "office.sqlite3"
    office_settings = replace(settings, database_url=f"sqlite+aiosqlite:///{path}")
    async with fresh_database(office_settings) as engine:
        yield office_settings, engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def office(
    request: pytest.FixtureRequest,
    settings: Settings,
    engine: AsyncEngine,
    sqlite_office: tuple[Settings, AsyncEngine],
) -> AsyncIterator[tuple[Settings, AsyncEngine]]:
    # `engine` is asked for here, not with getfixturevalue: a session fixture not yet set up
    # cannot be from inside this (running) one, as when the test runs alone
    if request.param == "sqlite":
        office_settings, office_engine = sqlite_office
        async with office_writes_removed(office_engine):
            yield office_settings, office_engine
        return
    # PostgreSQL: the session's database, through an engine whose connections may take as long
    # to open (and to be had from the pool) as the client waits: on two busy cores the 5 s
    # meant for a server that accepts and never answers go by while our own event loop serves
    # the other 99 requests.
    office_settings = replace(settings, database_connect_timeout_seconds=OFFICE_WAIT_SECONDS)
    office_engine = create_engine(office_settings, pool_timeout=OFFICE_WAIT_SECONDS)
    try:
        async with office_writes_removed(office_engine):
            yield office_settings, office_engine
    finally:
        await office_engine.dispose()


async def test_fifty_sign_ins_and_fifty_new_tickets_at_once(
    office: tuple[Settings, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: writers wait their turn for as long as the client waits
    settings, engine = office
    monkeypatch.setattr(models.session, "SQLITE_BUSY_TIMEOUT_MS", OFFICE_BUSY_TIMEOUT_MS)
    # when
    report = await run_office(settings, engine, sign_ins=SIGN_INS, tickets=TICKETS)
    # then: everyone signed in, every ticket was created
    print(report.summary())
    assert [r.body for r in report.responses if r.errors] == []
    assert report.answers == {"login": {"ok": SIGN_INS}, "createTicket": {"ok": TICKETS}}
    # and every write done is in the audit log, once, and nothing else
    assert report.tickets == TICKETS
    assert report.audit == {LOGIN_ACTION: SIGN_INS, TICKET_ACTION: TICKETS}


async def test_concurrent_wrong_passwords_are_all_counted(
    office: tuple[Settings, AsyncEngine],
) -> None:
    # given: one address, more wrong guesses at once than the limit (5)
    settings, engine = office
    email = f"guess-{uuid.uuid4().hex[:8]}@acme.example"
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    async with (
        serving(app) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http,
    ):
        gql = GraphQLClient(http)
        # when
        results = await asyncio.gather(
            *(
                gql(QUERY_LOGIN, {"input": {"email": email, "password": f"guess-{n}"}})
                for n in range(12)
            )
        )
        after = await gql(QUERY_LOGIN, {"input": {"email": email, "password": "guess-0"}})
    # then: each guess was refused; every one that was checked was counted
    kinds = [answer_kind(r, "login") for r in results]
    assert set(kinds) <= {"INVALID_CREDENTIALS", "THROTTLED"}, [r.body for r in results]
    async with engine.connect() as conn:
        row = (
            await conn.execute(select(LoginThrottle).where(LoginThrottle.key == f"email:{email}"))
        ).one()
    assert row.failures == kinds.count("INVALID_CREDENTIALS")
    assert row.locked_until is not None
    assert after.error_codes == ["THROTTLED"]


async def test_audit_write_that_fails_leaves_no_ticket(
    sqlite_office: tuple[Settings, AsyncEngine],
) -> None:
    """The audit entry commits with the change, or the change does not happen."""
    # given: the audit log refuses every entry (a trigger)
    settings, engine = sqlite_office
    async with office_writes_removed(engine):
        app = create_app(settings, sessionmaker=create_sessionmaker(engine))
        async with (
            serving(app) as address,
            httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http,
        ):
            gql = GraphQLClient(http)
            device = await covered_device(gql, TICKET_CREATOR)
            token = await gql.token_for(TICKET_CREATOR)
            tokens = await gql.login(TICKET_CREATOR)
            counts_before = await _counts(engine)
            async with _audit_log_refusing(engine):
                # when
                created = await gql(
                    CREATE_TICKET,
                    {
                        "input": {
                            "type": "INCIDENT",
                            "deviceId": device["id"],
                            "summary": "Never audited",
                            "symptomCategory": "OTHER",
                        }
                    },
                    token=token,
                )
                refreshed = await gql(QUERY_REFRESH, {"token": tokens["refreshToken"]}, token=token)
            # then: an error, and nothing stored: no ticket, the refresh token not spent
            assert created.error_codes == ["INTERNAL"]
            assert refreshed.error_codes == ["INTERNAL"]
            assert await _counts(engine) == counts_before
            again = await gql(QUERY_REFRESH, {"token": tokens["refreshToken"]})
            assert again.data["refreshToken"]["userErrors"] == []


async def test_write_lock_held_past_the_busy_timeout_is_a_coded_refusal(
    sqlite_office: tuple[Settings, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: another process holds SQLite's write lock longer than our (short) busy timeout
    settings, office_engine = sqlite_office
    monkeypatch.setattr(models.session, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = Path(settings.database_url.split("///", 1)[1])

    @contextlib.asynccontextmanager
    async def other_process_writing(_: AsyncEngine) -> AsyncIterator[None]:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()

    # when
    created, counts_before, counts_after = await _ticket_held_back(
        settings, office_engine, other_process_writing, {"Accept-Language": "fr"}
    )
    # then
    assert created.status == 503
    assert created.headers["retry-after"] == "1"
    assert created.error_codes == [BUSY]
    error = created.errors[0]
    assert error["extensions"]["retryAfter"] == 1
    assert error["message"].startswith("Le service est occupé")
    assert counts_after == counts_before


async def test_turn_waited_for_past_the_busy_timeout_is_the_same_coded_refusal(
    sqlite_office: tuple[Settings, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer of this process queued behind another one (its turn not given within the busy
    timeout) is answered as SQLite's own lock is: busy, retry in a second; not an outage."""
    # given: this process's writer queue is held longer than our (short) busy timeout
    settings, office_engine = sqlite_office
    monkeypatch.setattr(models.session, "SQLITE_BUSY_TIMEOUT_MS", 200)

    @contextlib.asynccontextmanager
    async def queue_held(engine: AsyncEngine) -> AsyncIterator[None]:
        queue = models.session._writer_queue(engine)
        await queue.acquire()
        try:
            yield
        finally:
            queue.release()

    # when
    created, counts_before, counts_after = await _ticket_held_back(
        settings, office_engine, queue_held
    )
    # then
    assert created.status == 503
    assert created.headers["retry-after"] == "1"
    assert created.error_codes == [BUSY]
    assert created.errors[0]["extensions"]["retryAfter"] == 1
    assert counts_after == counts_before


async def _ticket_held_back(
    settings: Settings,
    office_engine: AsyncEngine,
    held: Callable[[AsyncEngine], contextlib.AbstractAsyncContextManager[None]],
    headers: dict[str, str] | None = None,
) -> tuple[Response, tuple[int, int], tuple[int, int]]:
    """createTicket sent by the ticket creator while `held(engine)` keeps the app's writes
    waiting; the answer, and the tickets and audit entries counted before and after (the
    after before the cleanup removes the sign-in's entry)."""
    engine = create_engine(settings)
    async with office_writes_removed(office_engine):
        app = create_app(settings, sessionmaker=create_sessionmaker(engine))
        async with (
            serving(app) as address,
            httpx.AsyncClient(base_url=f"http://{address}", timeout=60) as http,
        ):
            gql = GraphQLClient(http)
            device = await covered_device(gql, TICKET_CREATOR)
            token = await gql.token_for(TICKET_CREATOR)
            counts_before = await _counts(office_engine)
            async with held(engine):
                created = await gql(
                    CREATE_TICKET,
                    {
                        "input": {
                            "type": "INCIDENT",
                            "deviceId": device["id"],
                            "summary": "Held back",
                            "symptomCategory": "OTHER",
                        }
                    },
                    token=token,
                    headers=headers,
                )
        await engine.dispose()
        counts_after = await _counts(office_engine)
    return created, counts_before, counts_after


QUERY_REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(input: {refreshToken: $token}) { accessToken userErrors { code } }
}
"""


async def _counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        tickets = await conn.scalar(select(func.count()).select_from(Ticket))
        entries = await conn.scalar(select(func.count()).select_from(AuditLogEntry))
    return int(tickets or 0), int(entries or 0)


class _audit_log_refusing:
    """A trigger that makes every insert into the audit log fail (SQLite)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def __aenter__(self) -> None:
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TRIGGER audit_refused BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit log refused'); END"
            )

    async def __aexit__(self, *_: object) -> None:
        async with self.engine.begin() as conn:
            await conn.exec_driver_sql("DROP TRIGGER audit_refused")
