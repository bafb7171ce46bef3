"""On PostgreSQL a submission reads what its rules need in one statement: the readings around
each day, and over their days the usual rate's months and the readings the rollup recomputes
from (`resolvers.meters.load_neighbours_window_and_usual`, the month arithmetic in SQL). It must
read exactly what the two statements SQLite still runs read, on days where months, years and
leap years turn."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from core.ids import global_id
from models.enums import MeterType
from resolvers.meters import (
    _span,
    load_neighbours,
    load_neighbours_window_and_usual,
    load_window_and_usual_rates,
    usual_rates,
)
from tests.graphql import GraphQLClient
from tests.meters.helpers import new_device

QUERY_SUBMIT = """
mutation Submit($input: SubmitMeterReadingsInput!) {
  submitMeterReadings(input: $input) { userErrors { code } }
}
"""
HISTORY = {  # day -> TOTAL counter
    date(2024, 11, 20): 1_000,
    date(2024, 12, 31): 1_900,
    date(2025, 1, 31): 2_600,
    date(2025, 2, 28): 3_100,
    date(2025, 3, 1): 3_150,
    date(2025, 5, 15): 4_700,
    date(2025, 12, 31): 9_000,
    date(2026, 3, 31): 11_000,
}
ASKED = [
    date(2024, 11, 19),  # nothing before
    date(2024, 12, 1),
    date(2025, 1, 1),
    date(2025, 1, 31),  # a reading that day
    date(2025, 2, 1),
    date(2025, 3, 1),
    date(2025, 4, 30),
    date(2025, 12, 31),
    date(2026, 1, 1),
    date(2026, 2, 28),
    date(2026, 4, 1),  # nothing after
]


async def test_the_rules_read_at_once_what_two_statements_read(
    gql: GraphQLClient, connection: AsyncConnection
) -> None:
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite reads in two statements")
    # given: a device with its history submitted (the rollup kept by the API)
    pk = await new_device(connection, "AT-ONCE-1", date(2024, 11, 1))
    for day, value in HISTORY.items():
        row = {
            "deviceId": global_id("Device", pk),
            "readingDate": day.isoformat(),
            "readings": [{"meter": "TOTAL", "value": value}],
        }
        result = await gql(QUERY_SUBMIT, {"input": row}, as_user="admin@acme.example")
        assert result.data["submitMeterReadings"]["userErrors"] == [], result
    async with AsyncSession(bind=connection) as session:
        context = SimpleNamespace(session=session)
        for day in ASKED:
            keys = [(pk, MeterType.TOTAL, day)]
            # when
            found, months, points = await load_neighbours_window_and_usual(context, keys)  # type: ignore[arg-type]
            # then: what the neighbours and then the window with the usual rates read
            expected = await load_neighbours(context, keys)  # type: ignore[arg-type]
            usual_keys = [
                (pk, MeterType.TOTAL, n.previous[0] if n.previous else day) for n in expected
            ]
            spans = [_span(keys[0], expected[0])]
            usual, expected_points = await load_window_and_usual_rates(context, usual_keys, spans)  # type: ignore[arg-type]
            assert found == expected, day
            assert usual_rates(usual_keys, months) == usual, day
            assert points == expected_points, day
            assert points[(pk, MeterType.TOTAL)], day  # the window is never empty here
