"""`reportTonerLevels` keeps the history of levels, reads cartridge replacements from it and
handles the Printer MIB's special values as states, never as numbers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.ids import global_id
from models import CartridgeReplacement, MeterReading, TonerLevel, TonerLevelReport
from models.enums import MeterType, TonerLevelState
from tests.graphql import GraphQLClient
from tests.stock.conftest import supplied_device
from tests.stock.test_report_toner_levels import QUERY_REPORT, _black_toner, _open_orders


def _report(device_id: int, **level: Any) -> dict[str, Any]:
    return {"input": {"deviceId": global_id("Device", device_id), "levels": [level]}}


async def _last_report(connection: AsyncConnection) -> int:
    return int(await connection.scalar(select(func.max(TonerLevelReport.id))) or 0)


async def _history(
    connection: AsyncConnection, device_id: int, consumable_id: int, since: int
) -> list[Any]:
    """The levels reported after the report `since` (the seeded history left out)."""
    return list(
        (
            await connection.execute(
                select(TonerLevelReport.percent, TonerLevelReport.state)
                .where(
                    TonerLevelReport.device_id == device_id,
                    TonerLevelReport.consumable_id == consumable_id,
                    TonerLevelReport.id > since,
                )
                .order_by(TonerLevelReport.id)
            )
        ).all()
    )


async def _replacements(connection: AsyncConnection, device_id: int) -> int:
    return int(
        await connection.scalar(
            select(func.count())
            .select_from(CartridgeReplacement)
            .where(CartridgeReplacement.device_id == device_id)
        )
        or 0
    )


async def test_every_report_is_kept_and_a_jump_is_a_replacement(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    since = await _last_report(connection)
    counter = await connection.scalar(
        select(MeterReading.value)
        .where(MeterReading.device_id == device.id, MeterReading.meter == MeterType.BLACK)
        .order_by(MeterReading.reading_date.desc())
        .limit(1)
    )
    # when
    for percent in (40, 38, 2, 98, 97):
        result = await gql(
            QUERY_REPORT,
            _report(device.id, colour="BLACK", percent=percent),
            token=emaintenance_token,
        )
        assert result.data["reportTonerLevels"]["userErrors"] == []
    # then
    history = await _history(connection, device.id, toner.id, since)
    assert [p for p, _ in history] == [40, 38, 2, 98, 97]
    [replacement] = (
        await connection.execute(
            select(CartridgeReplacement).where(
                CartridgeReplacement.device_id == device.id,
                CartridgeReplacement.consumable_id == toner.id,
                CartridgeReplacement.from_percent == 2,
            )
        )
    ).all()
    assert (replacement.from_percent, replacement.to_percent) == (2, 98)
    assert replacement.meter == MeterType.BLACK and replacement.meter_value == counter


async def test_special_values_are_states_not_numbers(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    since = await _last_report(connection)
    replacements_before = await _replacements(connection, device.id)
    cases = [
        ({"colour": "BLACK", "percent": -3}, None, "SOME_REMAINING"),
        ({"colour": "BLACK", "state": "UNKNOWN"}, None, "UNKNOWN"),
        ({"colour": "BLACK", "percent": -2}, None, "UNKNOWN"),
        ({"colour": "BLACK", "percent": -1}, None, "UNKNOWN"),
        ({"colour": "BLACK", "state": "MEASURED", "percent": 3}, 3, "MEASURED"),
        ({"colour": "BLACK", "state": "SOME_REMAINING"}, None, "SOME_REMAINING"),
    ]
    for level, percent, _ in cases:
        # when
        result = await gql(QUERY_REPORT, _report(device.id, **level), token=emaintenance_token)
        # then
        payload = result.data["reportTonerLevels"]
        assert payload["userErrors"] == [], level
        [stored] = payload["tonerLevels"]
        assert (stored["percent"], stored["low"]) == (percent, percent is not None), level
    history = await _history(connection, device.id, toner.id, since)
    assert [(p, s.value) for p, s in history] == [(p, s) for _, p, s in cases]
    # a special value neither orders toner nor is taken for a jump: 3 % ordered once
    assert await _open_orders(connection, device.id, toner.id) == 1
    assert await _replacements(connection, device.id) == replacements_before
    current = await connection.scalar(
        select(TonerLevel.state).where(
            TonerLevel.device_id == device.id, TonerLevel.consumable_id == toner.id
        )
    )
    assert current is TonerLevelState.SOME_REMAINING


async def test_contradictory_or_missing_levels_are_refused(
    gql: GraphQLClient, connection: AsyncConnection, emaintenance_token: str
) -> None:
    # given
    device = await supplied_device(connection)
    toner = await _black_toner(connection, device)
    since = await _last_report(connection)
    cases = [
        ({"colour": "BLACK", "state": "UNKNOWN", "percent": 40}, "TONER_LEVEL_STATE_CONFLICT"),
        ({"colour": "BLACK", "state": "MEASURED", "percent": -3}, "TONER_LEVEL_STATE_CONFLICT"),
        ({"colour": "BLACK"}, "VALUE_REQUIRED"),
        ({"colour": "BLACK", "state": "MEASURED"}, "VALUE_REQUIRED"),
        ({"colour": "BLACK", "percent": -4}, "PERCENT_OUT_OF_RANGE"),
    ]
    for level, code in cases:
        # when
        result = await gql(QUERY_REPORT, _report(device.id, **level), token=emaintenance_token)
        # then
        [error] = result.data["reportTonerLevels"]["userErrors"]
        assert error["code"] == code, level
    assert await _history(connection, device.id, toner.id, since) == []
