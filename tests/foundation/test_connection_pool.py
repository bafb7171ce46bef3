"""A pooled PostgreSQL connection that sat idle is pinged before it is handed out again, and a
dead one is replaced: a database restart (or a dropped idle connection) costs no request. The
same holds for the connection a running app keeps for its per-request reads
(`models.session.HeldConnection`)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

import models.session
from models.session import HeldConnection, create_engine, database_unavailable
from settings import Settings

BACKEND = text("SELECT pg_backend_pid()")


async def _terminate(settings: Settings, pid: int) -> None:
    killer = create_engine(settings)
    async with killer.connect() as conn:
        await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await killer.dispose()


async def test_an_idle_connection_whose_server_went_away_is_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.is_sqlite:
        pytest.skip("SQLite has no server to lose")
    # given: one pooled connection, then its server process ended while it sat in the pool
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(BACKEND)).scalar_one()
        await _terminate(settings, pid)
        monkeypatch.setattr(models.session, "IDLE_PING_SECONDS", 0.0)
        # when
        async with engine.connect() as conn:
            new_pid = (await conn.execute(BACKEND)).scalar_one()
        # then
        assert new_pid != pid
    finally:
        await engine.dispose()


async def test_statements_are_planned_with_their_values(settings: Settings) -> None:
    """asyncpg reuses prepared statements; a generic plan (blind to the values) made the devices
    text search half again as slow, so connections plan every statement with its values."""
    if settings.is_sqlite:
        pytest.skip("PostgreSQL's plan cache")
    # given
    engine = create_engine(settings)
    try:
        # when
        async with engine.connect() as conn:
            mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()
        # then
        assert mode == "force_custom_plan"
    finally:
        await engine.dispose()


async def test_the_kept_connection_reads_outside_transactions_and_outlives_its_server(
    settings: Settings,
) -> None:
    if settings.is_sqlite:
        pytest.skip("SQLite has no server to lose")
    # given: the kept connection, after a read
    engine = create_engine(settings)
    held = HeldConnection(engine)
    try:
        (pid,) = await held.first(BACKEND, {})
        # then: no transaction is left open on it (autocommit, no BEGIN)
        async with engine.connect() as conn:
            state = await conn.scalar(
                text("SELECT state FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            )
        assert state == "idle"
        assert (await held.first(BACKEND, {}))[0] == pid  # the same connection again
        # when: its server process ends (a restart, or an idle connection dropped)
        await _terminate(settings, pid)
        # then: the next read answers, on a new connection
        (new_pid,) = await held.first(BACKEND, {})
        assert new_pid != pid
        # when: a read fails for its own reasons
        with pytest.raises(ProgrammingError):
            await held.first(text("SELECT no_such_column FROM users"), {})
        # then: it is not tried again, and the connection it failed on is dropped
        assert (await held.first(BACKEND, {}))[0] != new_pid
        # and: concurrent reads take turns on the one connection
        answers = await asyncio.gather(*(held.first(BACKEND, {}) for _ in range(20)))
        assert len({row[0] for row in answers}) == 1
    finally:
        await held.close()
        await engine.dispose()


async def test_while_the_database_cannot_be_reached_reads_go_through_the_pool(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not one after the other behind the kept connection: each waits for and fails on its own
    (a hung server would otherwise make the tenth request wait ten timeouts)."""
    if settings.is_sqlite:
        pytest.skip("SQLite has no server to lose")
    # given: a database nobody answers for
    engine = create_engine(
        replace(settings, database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    )
    held = HeldConnection(engine)
    opened: list[int] = []
    real_open = HeldConnection._open

    async def counting_open(self: HeldConnection) -> Any:
        opened.append(1)
        return await real_open(self)

    monkeypatch.setattr(HeldConnection, "_open", counting_open)
    try:
        # when: reads while it cannot be reached
        for _ in range(3):
            with pytest.raises(Exception) as refused:
                await held.first(BACKEND, {})
            assert database_unavailable(refused.value)  # the outage answer, as before
        # then: one attempt at the kept connection, the others through the pool
        assert len(opened) == 1
        # when: the pause is over
        monkeypatch.setattr(models.session, "KEPT_PAUSE_SECONDS", 0.0)
        with pytest.raises(Exception) as refused:
            await held.first(BACKEND, {})
        # then: the kept connection is tried again
        assert database_unavailable(refused.value)
        assert len(opened) == 2
    finally:
        await held.close()
        await engine.dispose()
