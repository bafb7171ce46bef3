"""The latest-readings statement is answered from the unique index (device_id, meter,
reading_date) by seeks, never by scanning the readings table (EXPLAIN on both databases)."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from models import Device
from resolvers.loaders.meters import latest_readings_statement


async def test_latest_readings_use_index_seeks(connection: AsyncConnection) -> None:
    # given: a page of devices, on statistics that are up to date (the small fleet has 200
    # devices, so a bigger page would be a good part of the table)
    ids = list((await connection.scalars(select(Device.id).order_by(Device.id).limit(20))).all())
    if connection.dialect.name == "postgresql":
        await connection.execute(text("ANALYZE devices, product_model_meters, meter_readings"))
    sql = str(
        latest_readings_statement(ids).compile(
            connection.sync_connection, compile_kwargs={"literal_binds": True}
        )
    )
    sqlite = connection.dialect.name == "sqlite"
    # when
    rows = (
        await connection.execute(text(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + sql))
    ).all()
    plan = "\n".join(str(row[-1] if sqlite else row[0]) for row in rows)
    # then
    if sqlite:
        assert "SCAN meter_readings" not in plan and "SCAN newest" not in plan, plan
        assert "SEARCH meter_readings USING INDEX" in plan, plan
        assert "SEARCH newest USING COVERING INDEX" in plan, plan
    else:
        assert "Seq Scan on meter_readings" not in plan, plan
        assert "uq_meter_readings_device_day" in plan, plan
