"""meterUsage by MONTH reads the usage rollup (meter_usage_months), which every write path of
readings keeps right: its figures equal the readings' own (the DAY report, still computed from
the readings, summed per month) and a hand computation, after submissions, uploads, reports by
e-Maintenance, corrections and readings stored between two others."""

from __future__ import annotations

import asyncio
import importlib
import itertools
from collections import defaultdict
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from hypothesis import strategies as st
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.ids import global_id, parse_global_id
from demo.fleet import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from models import MeterReading, MeterUsageMonth
from resolvers.usage_rollup import month_start, next_month
from tests.conftest import StatementCounter
from tests.graphql import GraphQLClient
from tests.meters.helpers import devices_of, new_device
from tests.meters.test_submit_meter_readings_race import _cleanup

QUERY_USAGE = """
query Usage($filter: MeterUsageFilter, $period: UsagePeriod!) {
  meterUsage(filter: $filter, groupBy: DEVICE, period: $period) { meter periodStart pages }
}
"""
QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) { readings { id } userErrors { field code } }
}
"""
QUERY_BATCH = """
mutation Batch($input: MeterReadingsBatchInput!) {
  submitMeterReadingsBatch(input: $input) { results { accepted errors { field code } } }
}
"""
QUERY_REPORT = """
mutation Report($input: MeterReadingsBatchInput!) {
  reportMeterReadings(input: $input) { results { accepted errors { field code } } }
}
"""
QUERY_CORRECT = """
mutation Correct($input: CorrectMeterReadingInput!) {
  correctMeterReading(input: $input) { reading { value } userErrors { field code } }
}
"""
QUERY_CLIENT_TOKEN = """
mutation Token($input: ClientTokenInput!) { clientToken(input: $input) { accessToken } }
"""

ADMIN = "admin@acme.example"
AGENT = "agent@vendor.example"
INSTALLED = date(2024, 12, 1)
_serials = itertools.count(1)


async def _new_device(connection: AsyncConnection, *, e_maintenance: bool = False) -> str:
    """An Acme France device without readings, installed on INSTALLED."""
    serial = f"ROLLUP-{next(_serials):05d}"
    pk = await new_device(connection, serial, INSTALLED, e_maintenance=e_maintenance)
    return global_id("Device", pk)


def _row(device_id: str, day: date, value: int) -> dict[str, Any]:
    return {
        "deviceId": device_id,
        "readingDate": day.isoformat(),
        "readings": [{"meter": "TOTAL", "value": value}],
    }


async def _submit(gql: GraphQLClient, device_id: str, day: date, value: int) -> list[dict]:
    result = await gql(QUERY_SUBMIT, {"input": _row(device_id, day, value)}, as_user=ADMIN)
    assert not result.errors and not result.data["submitMeterReadings"]["userErrors"], result
    return result.data["submitMeterReadings"]["readings"]  # type: ignore[no-any-return]


async def _usage(gql: GraphQLClient, device_id: str, start: date, to: date, period: str) -> Any:
    filter = {"deviceIds": [device_id], "from": start.isoformat(), "to": to.isoformat()}
    result = await gql(QUERY_USAGE, {"filter": filter, "period": period}, as_user=ADMIN)
    assert not result.errors, result.errors
    return result.data["meterUsage"]


def _by_month(rows: list[dict]) -> dict[str, float]:
    months: dict[str, float] = defaultdict(float)
    for row in rows:
        months[row["periodStart"][:7]] += row["pages"]
    return dict(months)


def _hand(readings: dict[date, int], start: date, to: date) -> dict[str, float]:
    """Pages per month by walking the days: each day between two readings gets its share."""
    months: dict[str, float] = defaultdict(float)
    for (p, low), (e, high) in pairwise(sorted(readings.items())):
        for n in range(1, (e - p).days + 1):
            day = p + timedelta(days=n)
            if start <= day <= to:
                months[day.isoformat()[:7]] += (high - low) / (e - p).days
    return {m: pages for m, pages in months.items() if pages > 0}


async def _assert_same_figures(
    gql: GraphQLClient, device_id: str, readings: dict[date, int], start: date, to: date
) -> None:
    """The MONTH report (rollup) equals the DAY report (readings) summed per month, and the
    hand computation."""
    monthly = await _usage(gql, device_id, start, to, "MONTH")
    daily = _by_month(await _usage(gql, device_id, start, to, "DAY"))
    hand = _hand(readings, start, to)
    got = {row["periodStart"][:7]: row["pages"] for row in monthly}
    assert got.keys() == daily.keys() == hand.keys(), (got, daily, hand)
    for month, pages in got.items():
        # each day of the DAY report is rounded to 3 decimals: up to 31 x 0.0005 apart
        assert pages == pytest.approx(daily[month], abs=0.016), (month, got, daily)
        assert pages == pytest.approx(hand[month], abs=0.001), (month, got, hand)


# Readings of 2025: a month with none (March), a 7-day step, one reading on the 1st.
READINGS = {
    date(2025, 1, 10): 1_000,
    date(2025, 1, 17): 1_700,
    date(2025, 2, 14): 4_500,
    date(2025, 4, 1): 9_100,
    date(2025, 4, 20): 10_000,
}
WHOLE = (date(2025, 1, 1), date(2025, 5, 31))
PARTS = (date(2025, 1, 15), date(2025, 4, 10))


@pytest.mark.dates
async def test_rollup_after_submissions_matches_the_readings(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device_id = await _new_device(connection)
    # when
    for day, value in READINGS.items():
        await _submit(gql, device_id, day, value)
    # then: whole months, and a range that starts and ends inside months
    await _assert_same_figures(gql, device_id, READINGS, *WHOLE)
    await _assert_same_figures(gql, device_id, READINGS, *PARTS)
    monthly = await _usage(gql, device_id, *WHOLE, "MONTH")
    assert [(r["periodStart"], r["pages"]) for r in monthly][:2] == [
        ("2025-01-01", 700 + 14 * 100),  # 17 Jan at 100 a day, then 14 days at 100 a day
        ("2025-02-01", 14 * 100 + 14 * 100),  # to 14 Feb, then 14 of the 46 days to 1 Apr
    ]


@pytest.mark.dates
async def test_rollup_after_a_reading_between_two_others(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: the readings without 17 Jan and 1 Apr, then those two sent late
    device_id = await _new_device(connection)
    late = {date(2025, 1, 17), date(2025, 4, 1)}
    for day, value in READINGS.items():
        if day not in late:
            await _submit(gql, device_id, day, value)
    # when
    for day in sorted(late):
        await _submit(gql, device_id, day, READINGS[day])
    # then
    await _assert_same_figures(gql, device_id, READINGS, *WHOLE)
    await _assert_same_figures(gql, device_id, READINGS, *PARTS)


@pytest.mark.dates
async def test_rollup_after_an_upload_with_two_days_of_one_device(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given: two readings stored, three more (two inside the same interval) in one upload
    device_id = await _new_device(connection)
    days = sorted(READINGS)
    for day in (days[0], days[-1]):
        await _submit(gql, device_id, day, READINGS[day])
    rows = [_row(device_id, day, READINGS[day]) for day in days[1:-1]]
    # when
    result = await gql(QUERY_BATCH, {"input": {"rows": rows}}, as_user=ADMIN)
    # then
    assert [r["accepted"] for r in result.data["submitMeterReadingsBatch"]["results"]] == [True] * 3
    await _assert_same_figures(gql, device_id, READINGS, *WHOLE)
    await _assert_same_figures(gql, device_id, READINGS, *PARTS)


@pytest.mark.dates
async def test_rollup_after_e_maintenance_reports(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    # given
    device_id = await _new_device(connection, e_maintenance=True)
    token = await gql(
        QUERY_CLIENT_TOKEN,
        {"input": {"clientId": DEMO_CLIENT_ID, "clientSecret": DEMO_CLIENT_SECRET}},
    )
    rows = [_row(device_id, day, value) for day, value in READINGS.items()]
    # when
    result = await gql(
        QUERY_REPORT, {"input": {"rows": rows}}, token=token.data["clientToken"]["accessToken"]
    )
    # then
    assert all(r["accepted"] for r in result.data["reportMeterReadings"]["results"]), result
    await _assert_same_figures(gql, device_id, READINGS, *WHOLE)
    await _assert_same_figures(gql, device_id, READINGS, *PARTS)


@pytest.mark.dates
async def test_rollup_after_a_correction(gql: GraphQLClient, connection: AsyncConnection) -> None:
    # given
    device_id = await _new_device(connection)
    ids = {
        day: (await _submit(gql, device_id, day, value))[0]["id"] for day, value in READINGS.items()
    }
    corrected = {**READINGS, date(2025, 2, 14): 2_000}
    # when
    result = await gql(
        QUERY_CORRECT,
        {"input": {"readingId": ids[date(2025, 2, 14)], "value": 2_000, "reason": "Misread"}},
        as_user=AGENT,
    )
    # then
    assert result.data["correctMeterReading"]["reading"] == {"value": 2_000}, result
    await _assert_same_figures(gql, device_id, corrected, *WHOLE)
    await _assert_same_figures(gql, device_id, corrected, *PARTS)


@examples(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=st.lists(st.tuples(st.integers(1, 45), st.integers(0, 300)), min_size=2, max_size=7),
    order=st.randoms(use_true_random=False),
    offset=st.integers(0, 60),
    edges=st.tuples(st.integers(-20, 40), st.integers(-40, 20)),
    correct=st.booleans(),
)
async def test_rollup_matches_the_readings_for_any_history(
    gql: GraphQLClient,
    connection: AsyncConnection,
    steps: list[tuple[int, int]],
    order: Any,
    offset: int,
    edges: tuple[int, int],
    correct: bool,
) -> None:
    # given: readings sent in any order, one maybe corrected afterwards
    device_id = await _new_device(connection)
    readings: dict[date, int] = {}
    day, value = date(2025, 1, 1) + timedelta(days=offset), 500
    for gap, pages in steps:
        day, value = day + timedelta(days=gap), value + pages
        readings[day] = value
    ids = {}
    for day in order.sample(sorted(readings), len(readings)):
        ids[day] = (await _submit(gql, device_id, day, readings[day]))[0]["id"]
    if correct and len(readings) > 2:
        days = sorted(readings)
        middle = days[len(days) // 2]
        readings[middle] = (readings[days[len(days) // 2 - 1]] + readings[middle]) // 2
        result = await gql(
            QUERY_CORRECT,
            {"input": {"readingId": ids[middle], "value": readings[middle], "reason": "Typo"}},
            as_user=AGENT,
        )
        assert not result.data["correctMeterReading"]["userErrors"], result
    # when / then: any range around them, inside or outside months
    start = min(readings) + timedelta(days=edges[0])
    to = max(max(readings) + timedelta(days=edges[1]), start)
    await _assert_same_figures(gql, device_id, readings, start, to)


async def test_migration_backfill_gives_the_rollup_the_write_paths_keep(
    connection: AsyncConnection,
) -> None:
    # given: the rollup kept by seeding (pages > 0: the write paths also keep empty months)
    migration = importlib.import_module(
        "models.migrations.versions.20261124_2e12cef1eaad_meter_usage_months"
    )
    columns = [c for c in MeterUsageMonth.__table__.c]
    kept = (await connection.execute(select(*columns).where(MeterUsageMonth.pages > 0))).all()
    first, last = (
        await connection.execute(
            text("SELECT min(reading_date), max(reading_date) FROM meter_readings")
        )
    ).one()
    if isinstance(first, str):
        first, last = date.fromisoformat(first), date.fromisoformat(last)
    # when
    await connection.execute(delete(MeterUsageMonth))
    await connection.execute(text(migration.backfill_sql(connection.dialect.name, first, last)))
    # then
    filled = (await connection.execute(select(*columns).where(MeterUsageMonth.pages > 0))).all()
    assert len(kept) > 1000
    assert [_exact(r) for r in sorted(kept)] == [_exact(r) for r in sorted(filled)]
    assert [r.pages for r in sorted(kept)] == pytest.approx([r.pages for r in sorted(filled)])


def _exact(row: Any) -> tuple[Any, ...]:
    return tuple(value for name, value in row._mapping.items() if name != "pages")


@pytest.mark.dates
async def test_the_rollup_costs_a_submission_two_statements(
    gql: GraphQLClient, connection: AsyncConnection, statements: StatementCounter
) -> None:
    # given
    device_id = await _new_device(connection)
    await _submit(gql, device_id, date(2025, 1, 10), 1_000)
    await gql.token_for(ADMIN)
    statements.reset()
    # when
    await _submit(gql, device_id, date(2025, 1, 17), 1_700)
    # then: scope 1, device facts (and row lock) 1, what the rules read 1 (PostgreSQL: the
    # neighbours, the usual rates the flags compare with — the rollup's months before — and
    # the readings of the months around the day the rollup needs; SQLite: the neighbours 1
    # and the rest 1), insert 1; on SQLite the newest reading day 1, the rollup's upsert 1
    # and the audit entry 1 apart, on PostgreSQL in the insert's statement
    postgres = connection.dialect.name == "postgresql"
    rollup = [s.upper() for s in statements.statements if "meter_usage_months" in s]
    assert len(rollup) == 2, rollup
    assert "FROM METER_READINGS" in rollup[0] and "INSERT" not in rollup[0]
    assert ("PREV_DAY" in rollup[0]) == postgres  # the neighbours, in the same statement
    assert "INSERT INTO METER_USAGE_MONTHS" in rollup[1]
    assert ("INSERT INTO AUDIT_LOG" in rollup[1]) == postgres
    assert statements.count == (4 if postgres else 8), [s[:60] for s in statements.statements]


@pytest.mark.postgres
async def test_concurrent_readings_between_two_others_keep_the_rollup_right(
    gql: GraphQLClient, committing_gql: GraphQLClient, engine: AsyncEngine
) -> None:
    # given: two submissions at once for one device, on the last day of a month and the first
    # of the next, between two readings that straddle them. Each alone would recompute both
    # months without the other's reading (and split the pages between them otherwise) were
    # they not to take turns on the device row; the newest reading day does not move, so
    # nothing else makes them wait.
    device = (await devices_of(gql, ADMIN, first=3))[2]
    parsed = parse_global_id(device.id)
    assert parsed is not None
    async with engine.connect() as conn:
        history = (
            await conn.execute(
                select(MeterReading.meter, MeterReading.reading_date, MeterReading.value)
                .where(MeterReading.device_id == parsed[1])
                .order_by(MeterReading.meter, MeterReading.reading_date)
            )
        ).all()
    by_meter: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for meter, day, value in history:
        by_meter[meter.value].append((day, value))

    def straddles(p: date, e: date) -> bool:
        boundary = next_month(month_start(p))
        return p < boundary - timedelta(days=1) and boundary < e

    p, e = next((p, e) for (p, _), (e, _) in pairwise(by_meter["TOTAL"]) if straddles(p, e))
    boundary = next_month(month_start(p))
    days = [boundary - timedelta(days=1), boundary]
    token = await gql.token_for(ADMIN)
    inputs = []
    for day, extra in zip(days, (0, 1), strict=True):
        readings = []
        for meter, points in by_meter.items():
            low, high = dict(points)[p], dict(points)[e]
            value = low + (high - low) * (days[0] - p).days // (e - p).days + extra
            readings.append({"meter": meter, "value": min(value, high)})
        inputs.append({"deviceId": device.id, "readingDate": day.isoformat(), "readings": readings})
    try:
        # when
        results = await asyncio.gather(
            *[committing_gql(QUERY_SUBMIT, {"input": i}, token=token) for i in inputs]
        )
        # then: whole months (rollup rows only) equal the readings' own figures
        assert all(not r.data["submitMeterReadings"]["userErrors"] for r in results), results
        start, to = month_start(days[0]), next_month(boundary) - timedelta(days=1)
        monthly = await _usage(gql, device.id, start, to, "MONTH")
        daily = _by_month(await _usage(gql, device.id, start, to, "DAY"))
        got: dict[str, float] = defaultdict(float)
        for row in monthly:
            got[row["periodStart"][:7]] += row["pages"]
        assert got.keys() == daily.keys()
        for month, pages in got.items():
            # a DAY row per meter and day, each rounded to 3 decimals
            assert pages == pytest.approx(daily[month], abs=0.1), (month, got, daily)
    finally:
        for day in days:
            await _cleanup(engine, device, day)
