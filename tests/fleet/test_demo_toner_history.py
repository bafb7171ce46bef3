"""The demo fleet's year of toner levels agrees with its meter readings and cartridge
replacements, and carries the planted anomalies."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from forecasting.meters import FLAG_BITS, Flag
from models import CartridgeReplacement, MeterReading, TonerLevel, TonerLevelReport
from models.enums import TonerLevelState
from tests.graphql import GraphQLClient

QUERY_FORECASTS = """
{ devices(first: 100, filter: {eMaintenance: true}) {
    nodes { tonerLevels { state forecast { reason method } } } } }
"""


async def test_levels_fall_between_replacements_and_jump_at_them(
    connection: AsyncConnection,
) -> None:
    # given
    reports = (
        await connection.execute(
            select(
                TonerLevelReport.device_id,
                TonerLevelReport.consumable_id,
                TonerLevelReport.percent,
            )
            .where(TonerLevelReport.state == TonerLevelState.MEASURED)
            .order_by(TonerLevelReport.reported_at, TonerLevelReport.id)
        )
    ).all()
    replacements = await connection.scalar(select(func.count()).select_from(CartridgeReplacement))
    # when: a level only rises to a new cartridge's 100 %
    series: dict[tuple[int, int], list[int]] = defaultdict(list)
    for device_id, consumable_id, percent in reports:
        series[(device_id, consumable_id)].append(percent)
    pairs = [pair for levels in series.values() for pair in itertools.pairwise(levels)]
    rises = [after for before, after in pairs if after > before]
    refills = sum(1 for before, after in pairs if before == after == 100)
    # then (a cartridge emptied within one reading interval is a replacement without a rise)
    assert len(series) > 50 and set(rises) == {100}
    assert len(rises) <= replacements <= len(rises) + refills


async def test_replacement_counters_are_on_the_meter_readings_line(
    connection: AsyncConnection,
) -> None:
    # given: a replacement's counter lies between the readings of its meter around that day
    rows = (
        await connection.execute(
            select(CartridgeReplacement).order_by(CartridgeReplacement.id).limit(200)
        )
    ).all()
    for replacement in rows:
        before = await connection.scalar(
            select(func.max(MeterReading.value)).where(
                MeterReading.device_id == replacement.device_id,
                MeterReading.meter == replacement.meter,
                MeterReading.reading_date < replacement.meter_date,
            )
        )
        after = await connection.scalar(
            select(func.min(MeterReading.value)).where(
                MeterReading.device_id == replacement.device_id,
                MeterReading.meter == replacement.meter,
                MeterReading.reading_date >= replacement.meter_date,
            )
        )
        # then
        assert before is not None and after is not None
        assert before <= replacement.meter_value <= after


async def test_planted_anomalies(connection: AsyncConnection) -> None:
    # when
    def flagged(flag: Flag) -> Any:
        return select(func.count(func.distinct(MeterReading.device_id))).where(
            MeterReading.flags.op("&")(FLAG_BITS[flag]) != 0
        )

    spikes = await connection.scalar(flagged(Flag.SPIKE))
    stale = await connection.scalar(flagged(Flag.STALE_DEVICE))
    unknown = await connection.scalar(
        select(func.count())
        .select_from(TonerLevel)
        .where(TonerLevel.state == TonerLevelState.UNKNOWN)
    )
    # then
    assert spikes and stale and unknown


async def test_demo_forecasts_learn_from_past_cartridges(gql: GraphQLClient) -> None:
    # when
    result = await gql(QUERY_FORECASTS, as_user="agent@vendor.example")
    # then
    forecasts = [
        level["forecast"]
        for node in result.data["devices"]["nodes"]
        for level in node["tonerLevels"]
        if level["forecast"] is not None
    ]
    methods = {f["method"] for f in forecasts if f["reason"] is None}
    reasons = {f["reason"] for f in forecasts if f["reason"] is not None}
    assert "LEARNED_YIELD" in methods
    assert "LEVEL_NOT_MEASURED" in reasons
