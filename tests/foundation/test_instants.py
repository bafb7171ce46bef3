"""Instants (`models.base.UTCDateTime`) come back from either database as the same instant,
aware and in UTC, whatever time zone the database session is in: on PostgreSQL asyncpg's
values are taken as they come (no conversion per value), so this holds them to it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from models.base import UTCDateTime

INSTANTS = [
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-10))),  # UTC's next year
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=1))),  # Europe's spring change
]


@pytest.mark.parametrize("session_zone", ["UTC", "Pacific/Kiritimati", "America/Adak"])
async def test_instants_come_back_aware_in_utc(engine: AsyncEngine, session_zone: str) -> None:
    if engine.dialect.name == "sqlite" and session_zone != "UTC":
        pytest.skip("SQLite has no session time zone")
    table = Table(
        "instants_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
        prefixes=["TEMPORARY"],
    )
    async with engine.connect() as conn:
        try:
            if engine.dialect.name == "postgresql":
                await conn.execute(text(f"SET TIME ZONE '{session_zone}'"))
            await conn.run_sync(table.create)
            # when
            await conn.execute(insert(table), [{"at": at} for at in INSTANTS])
            found = (await conn.execute(select(table.c.at).order_by(table.c.id))).scalars().all()
        finally:
            await conn.rollback()
    # then
    assert found == INSTANTS
    assert all(at.tzinfo is UTC for at in found)
