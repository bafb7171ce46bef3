"""The devices text search can use the trigram indexes on PostgreSQL (a substring match that a
btree cannot serve), through the same expressions `resolvers.search.contains` builds."""

from __future__ import annotations

import pytest
from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from models import Device
from resolvers.search import contains


async def test_search_can_use_the_trigram_indexes(connection: AsyncConnection) -> None:
    if connection.dialect.name != "postgresql":
        pytest.skip("trigram indexes are PostgreSQL's")
    # given: the planner told not to scan, to see whether the indexes serve the predicate at
    # all (on the 200 devices of the small fleet it would rightly prefer a scan)
    await connection.execute(text("SET LOCAL enable_seqscan = off"))
    stmt = select(Device.id).where(
        or_(
            *(
                contains(column, "Room 12")
                for column in (Device.serial_number, Device.asset_tag, Device.location_description)
            )
        )
    )
    sql = str(stmt.compile(connection.sync_connection, compile_kwargs={"literal_binds": True}))
    # when
    plan = "\n".join(row[0] for row in (await connection.execute(text("EXPLAIN " + sql))).all())
    # then
    for index in (
        "ix_devices_search_serial_number",
        "ix_devices_search_asset_tag",
        "ix_devices_search_location",
    ):
        assert index in plan, plan
