"""A pooled PostgreSQL connection that sat idle is pinged before it is handed out again, and a
dead one is replaced: a database restart (or a dropped idle connection) costs no request."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import models.session
from models.session import create_engine
from settings import Settings


async def test_an_idle_connection_whose_server_went_away_is_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if settings.is_sqlite:
        pytest.skip("SQLite has no server to lose")
    # given: one pooled connection, then its server process ended while it sat in the pool
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        killer = create_engine(settings)
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await killer.dispose()
        monkeypatch.setattr(models.session, "IDLE_PING_SECONDS", 0.0)
        # when
        async with engine.connect() as conn:
            new_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
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
