"""The once-a-day rule under real concurrency (PostgreSQL, separate connections): one reading
accepted, the other refused with a code; never two rows, never a 500."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import date
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.ids import parse_global_id
from models import Device, MeterReading
from models.enums import MeterType, ReadingSource
from resolvers.usage_rollup import respread_around
from tests.graphql import GraphQLClient, Response
from tests.meters.helpers import DeviceInfo, devices_of

pytestmark = pytest.mark.postgres

QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) {
    readings { id }
    userErrors { field code }
  }
}
"""

ADMIN = "admin@acme.example"


async def _cleanup(engine: AsyncEngine, device: DeviceInfo, day: date) -> None:
    parsed = parse_global_id(device.id)
    assert parsed is not None
    async with engine.begin() as conn:
        await conn.execute(
            delete(MeterReading).where(
                MeterReading.device_id == parsed[1], MeterReading.reading_date == day
            )
        )
        # Storing a reading also moved the device's newest reading day: put it back.
        newest = (
            select(func.max(MeterReading.reading_date))
            .where(MeterReading.device_id == parsed[1])
            .scalar_subquery()
        )
        await conn.execute(
            update(Device).where(Device.id == parsed[1]).values(last_reading_date=newest)
        )
        # And the usage rollup of the months around the day.
        await respread_around(conn, [(parsed[1], meter, day) for meter in MeterType])


async def _rows_on(engine: AsyncEngine, device: DeviceInfo, day: date) -> int:
    parsed = parse_global_id(device.id)
    assert parsed is not None
    async with engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).where(
                MeterReading.device_id == parsed[1], MeterReading.reading_date == day
            )
        )
    return int(count or 0)


async def _while_a_reading_is_pending(
    engine: AsyncEngine, device: DeviceInfo, request: Coroutine[Any, Any, Response]
) -> Response:
    """Runs `request` while another transaction holds today's TOTAL reading of `device`
    uncommitted; checks that the request waits for it, then commits it."""
    parsed = parse_global_id(device.id)
    assert parsed is not None
    async with engine.connect() as other:
        transaction = await other.begin()
        await other.execute(
            insert(MeterReading).values(
                device_id=parsed[1],
                meter=MeterType.TOTAL,
                reading_date=device.today,
                value=device.latest["TOTAL"][1] + 5,  # type: ignore[index]
                source=ReadingSource.REMOTE,
            )
        )
        pending = asyncio.ensure_future(request)
        await asyncio.sleep(0.5)
        assert not pending.done()
        await transaction.commit()
    return await pending


async def test_racing_submissions_give_one_reading_and_one_refusal(
    gql: GraphQLClient, committing_gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # given
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    token = await gql.token_for(ADMIN)
    input = {"deviceId": device.id, "readings": device.next_values()}
    try:
        # when
        results = await asyncio.gather(
            *[committing_gql(QUERY_SUBMIT, {"input": input}, token=token) for _ in range(2)]
        )
        # then
        assert [r.status for r in results] == [200, 200]
        assert all(not r.errors for r in results), [r.errors for r in results]
        payloads = [r.data["submitMeterReadings"] for r in results]
        accepted = [p for p in payloads if not p["userErrors"]]
        refused = [p for p in payloads if p["userErrors"]]
        assert len(accepted) == 1 and len(refused) == 1
        assert {e["code"] for e in refused[0]["userErrors"]} == {"READING_ALREADY_TODAY"}
        assert await _rows_on(engine, device, device.today) == len(device.latest)
    finally:
        await _cleanup(engine, device, device.today)


async def test_insert_losing_to_a_concurrent_commit_is_a_coded_refusal(
    gql: GraphQLClient, committing_gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # given: another transaction has written today's TOTAL reading but not committed yet, so
    # the submission's checks cannot see it and its insert waits on the unique index
    [device, *_] = await devices_of(gql, ADMIN, first=1)
    token = await gql.token_for(ADMIN)
    input = {"deviceId": device.id, "readings": device.next_values()}
    try:
        # when
        result = await _while_a_reading_is_pending(
            engine, device, committing_gql(QUERY_SUBMIT, {"input": input}, token=token)
        )
        # then
        assert result.status == 200 and not result.errors, result.errors
        payload = result.data["submitMeterReadings"]
        assert [e["code"] for e in payload["userErrors"]] == ["READING_ALREADY_TODAY"]
        assert payload["readings"] == []
        assert await _rows_on(engine, device, device.today) == 1
    finally:
        await _cleanup(engine, device, device.today)


QUERY_BATCH = """
mutation Batch($input: MeterReadingsBatchInput!) {
  submitMeterReadingsBatch(input: $input) {
    results { index accepted readings { id } errors { field code } }
  }
}
"""


async def test_batch_row_losing_to_a_concurrent_commit_is_reported_alone(
    gql: GraphQLClient, committing_gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # given: a concurrent, not yet committed reading for the first row's device; the batch's
    # single insert then fails and each row is retried in its own savepoint
    first, second = await devices_of(gql, ADMIN, first=2)
    token = await gql.token_for(ADMIN)
    rows = [
        {"deviceId": first.id, "readings": first.next_values()},
        {"deviceId": second.id, "readings": second.next_values()},
    ]
    try:
        # when
        result = await _while_a_reading_is_pending(
            engine, first, committing_gql(QUERY_BATCH, {"input": {"rows": rows}}, token=token)
        )
        # then
        assert result.status == 200 and not result.errors, result.errors
        lost, won = result.data["submitMeterReadingsBatch"]["results"]
        assert not lost["accepted"] and lost["readings"] == []
        assert [e["code"] for e in lost["errors"]] == ["READING_ALREADY_TODAY"]
        assert won["accepted"] and len(won["readings"]) == len(second.latest)
        assert await _rows_on(engine, first, first.today) == 1
        assert await _rows_on(engine, second, second.today) == len(second.latest)
    finally:
        await _cleanup(engine, first, first.today)
        await _cleanup(engine, second, second.today)
