"""The business-hours calendar: explicit edge cases, and hypothesis against a slow
minute-by-minute reference."""

from __future__ import annotations

import os
import time as systime
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calendars.business_hours import (
    Coverage,
    SlaState,
    add_business_time,
    business_time_between,
    next_opening,
    response_clock,
    sla_state,
)

PARIS = ZoneInfo("Europe/Paris")
OFFICE = Coverage.of(
    start=time(8, 30), end=time(17, 30), days="12345", time_zone="Europe/Paris", country="FR"
)


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def office(zone: str, country: str) -> Coverage:
    return Coverage.of(
        start=time(8, 30), end=time(17, 30), days="12345", time_zone=zone, country=country
    )


# --- explicit edge cases ------------------------------------------------------------------


def test_ticket_at_17_29_with_two_hours_is_due_next_morning() -> None:
    # given: Tuesday 24 November 2026, one minute before closing
    start = local("Europe/Paris", 2026, 11, 24, 17, 29)
    # when
    due = add_business_time(start, timedelta(hours=2), OFFICE)
    # then: one minute on Tuesday, 1 h 59 on Wednesday
    assert due == local("Europe/Paris", 2026, 11, 25, 10, 29)


def test_friday_evening_ticket_starts_on_monday_opening() -> None:
    # given
    start = local("Europe/Paris", 2026, 11, 27, 19, 45)
    # when
    due = add_business_time(start, timedelta(hours=4), OFFICE)
    # then
    assert next_opening(start, OFFICE) == local("Europe/Paris", 2026, 11, 30, 8, 30)
    assert due == local("Europe/Paris", 2026, 11, 30, 12, 30)


def test_duration_ending_exactly_at_closing_stays_on_that_day() -> None:
    # when
    due = add_business_time(local("Europe/Paris", 2026, 11, 24, 15, 30), timedelta(hours=2), OFFICE)
    # then
    assert due == local("Europe/Paris", 2026, 11, 24, 17, 30)


@pytest.mark.parametrize(
    ("country", "zone", "expected_day", "expected_hour"),
    [
        # Good Friday is worked in France and Italy, Easter Monday is not: Tuesday 10:00.
        ("FR", "Europe/Paris", 7, (10, 0)),
        ("IT", "Europe/Rome", 7, (10, 0)),
        # Germany also rests on Good Friday: the clock starts on Tuesday's opening.
        ("DE", "Europe/Berlin", 7, (10, 30)),
    ],
)
def test_easter_monday_next_to_the_weekend(
    country: str, zone: str, expected_day: int, expected_hour: tuple[int, int]
) -> None:
    # given: Good Friday 3 April 2026, 17:00 local
    calendar = office(zone, country)
    start = local(zone, 2026, 4, 3, 17, 0)
    # when
    due = add_business_time(start, timedelta(hours=2), calendar)
    # then
    assert due == local(zone, 2026, 4, expected_day, *expected_hour)


def test_spring_forward_weekend_in_paris() -> None:
    # given: Friday 27 March 2026 16:30 CET; clocks go forward on Sunday 29 March
    start = local("Europe/Paris", 2026, 3, 27, 16, 30)
    # when
    due = add_business_time(start, timedelta(hours=2), OFFICE)
    # then: Monday 09:30 CEST, i.e. 07:30 UTC (not 08:30 UTC)
    assert due == local("Europe/Paris", 2026, 3, 30, 9, 30)
    assert due.astimezone(UTC) == datetime(2026, 3, 30, 7, 30, tzinfo=UTC)


def test_fall_back_weekend_in_paris() -> None:
    # given: Friday 23 October 2026 16:30 CEST; clocks go back on Sunday 25 October
    start = local("Europe/Paris", 2026, 10, 23, 16, 30)
    # when
    due = add_business_time(start, timedelta(hours=2), OFFICE)
    # then: Monday 09:30 CET = 08:30 UTC
    assert due.astimezone(UTC) == datetime(2026, 10, 26, 8, 30, tzinfo=UTC)


def test_round_the_clock_coverage_counts_real_time_over_the_dst_jump() -> None:
    # given: coverage every day 00:00-23:59, Sunday 29 March 2026 01:30 CET
    calendar = Coverage.of(
        start=time(0, 0), end=time(23, 59), days="1234567", time_zone="Europe/Paris", country=None
    )
    start = local("Europe/Paris", 2026, 3, 29, 1, 30)
    # when
    due = add_business_time(start, timedelta(hours=1), calendar)
    # then: one real hour later it is 03:30 CEST
    assert due == local("Europe/Paris", 2026, 3, 29, 3, 30)


def test_martinique_keeps_its_offset_all_year() -> None:
    # given: America/Martinique has no daylight-saving time
    calendar = office("America/Martinique", "FR")
    # when
    winter = next_opening(datetime(2026, 1, 14, 0, 0, tzinfo=UTC), calendar)
    summer = next_opening(datetime(2026, 7, 15, 0, 0, tzinfo=UTC), calendar)
    # then: 08:30 local is 12:30 UTC in January and in July
    assert winter == datetime(2026, 1, 14, 12, 30, tzinfo=UTC)
    assert summer == datetime(2026, 7, 15, 12, 30, tzinfo=UTC)


def test_martinique_and_paris_open_at_different_instants() -> None:
    # given: the same instant, 17:00 UTC on Tuesday 24 November 2026
    instant = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    # when
    paris = add_business_time(instant, timedelta(hours=2), OFFICE)
    martinique = add_business_time(instant, timedelta(hours=2), office("America/Martinique", "FR"))
    # then: 18:00 in Paris (closed) but 13:00 in Fort-de-France (open)
    assert paris == local("Europe/Paris", 2026, 11, 25, 10, 30)
    assert martinique == local("America/Martinique", 2026, 11, 24, 15, 0)


def test_server_time_zone_does_not_matter() -> None:
    # given
    start = local("Europe/Paris", 2026, 11, 27, 16, 0)
    before = add_business_time(start, timedelta(hours=3), OFFICE)
    previous = os.environ.get("TZ")
    # when: the server runs in Tokyo
    os.environ["TZ"] = "Asia/Tokyo"
    systime.tzset()
    try:
        after = add_business_time(start, timedelta(hours=3), OFFICE)
    finally:
        if previous is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = previous
        systime.tzset()
    # then
    assert before == after == local("Europe/Paris", 2026, 11, 30, 10, 0)


def test_on_hold_span_is_skipped() -> None:
    # given: Tuesday 09:00 + 4 h, on hold from 10:00 to 11:30
    start = local("Europe/Paris", 2026, 11, 24, 9, 0)
    hold = (local("Europe/Paris", 2026, 11, 24, 10, 0), local("Europe/Paris", 2026, 11, 24, 11, 30))
    # when
    due = add_business_time(start, timedelta(hours=4), OFFICE, holds=[hold])
    # then
    assert due == local("Europe/Paris", 2026, 11, 24, 14, 30)


def test_hold_added_as_business_time_gives_the_same_due() -> None:
    # given: a hold over the night counts only its business part
    start = local("Europe/Paris", 2026, 11, 24, 9, 0)
    hold = (local("Europe/Paris", 2026, 11, 24, 16, 0), local("Europe/Paris", 2026, 11, 25, 9, 0))
    held = business_time_between(*hold, OFFICE)
    # when
    clock = response_clock(start, timedelta(hours=8), OFFICE, on_hold=held)
    # then
    assert held == timedelta(hours=2)
    assert clock.due_at == add_business_time(start, timedelta(hours=8), OFFICE, holds=[hold])


def test_sla_states() -> None:
    # given: 4 h response time from Tuesday 09:00 Paris
    start = local("Europe/Paris", 2026, 11, 24, 9, 0)
    clock = response_clock(start, timedelta(hours=4), OFFICE)

    def state(at: datetime, responded: datetime | None = None) -> SlaState:
        return sla_state(
            due_at=clock.due_at, at_risk_at=clock.at_risk_at, responded_at=responded, clock_at=at
        )

    # then
    assert clock.at_risk_at == local("Europe/Paris", 2026, 11, 24, 12, 0)
    assert state(local("Europe/Paris", 2026, 11, 24, 11, 59)) is SlaState.ON_TRACK
    assert state(local("Europe/Paris", 2026, 11, 24, 12, 0)) is SlaState.AT_RISK
    assert state(local("Europe/Paris", 2026, 11, 24, 13, 0)) is SlaState.BREACHED
    assert state(clock.due_at, responded=local("Europe/Paris", 2026, 11, 24, 10, 0)) is SlaState.MET
    assert state(clock.due_at, responded=clock.due_at + timedelta(minutes=1)) is SlaState.BREACHED


def test_unknown_country_has_no_holidays_and_bad_coverage_is_refused() -> None:
    # given
    calendar = Coverage.of(
        start=time(9), end=time(17), days="12345", time_zone="Europe/Paris", country="XX"
    )
    # then
    assert calendar.is_working_day(date(2026, 12, 25))
    with pytest.raises(ValueError):
        Coverage.of(start=time(17), end=time(9), days="12345", time_zone="UTC", country=None)
    with pytest.raises(ValueError):
        add_business_time(datetime(2026, 1, 1), timedelta(hours=1), calendar)


# --- property-based: compare with a slow minute-by-minute reference ---------------------------

MINUTE = timedelta(minutes=1)


def reference_is_business(
    instant: datetime, coverage: Coverage, holds: list[tuple[datetime, datetime]]
) -> bool:
    """Is the minute starting at `instant` business time? Read straight off the wall clock."""
    if any(start <= instant < end for start, end in holds):
        return False
    wall = instant.astimezone(ZoneInfo(coverage.time_zone))
    return coverage.is_working_day(wall.date()) and coverage.start <= wall.time() < coverage.end


def reference_add(
    start: datetime, minutes: int, coverage: Coverage, holds: list[tuple[datetime, datetime]]
) -> datetime:
    instant = start
    if minutes == 0:
        while not reference_is_business(instant, coverage, holds):
            instant += MINUTE
        return instant
    while minutes:
        if reference_is_business(instant, coverage, holds):
            minutes -= 1
        instant += MINUTE
    return instant


ZONES = [
    ("Europe/Paris", "FR"),
    ("Europe/Rome", "IT"),
    ("Europe/Berlin", "DE"),
    ("Europe/London", "GB"),
    ("America/New_York", "US"),
    ("America/Martinique", "FR"),
    ("Australia/Sydney", "AU"),
    ("Asia/Tokyo", "JP"),
]


@st.composite
def coverages(draw: st.DrawFn) -> Coverage:
    zone, country = draw(st.sampled_from(ZONES))
    # Opening from 04:00 keeps the window clear of the night-time DST jumps, where the
    # wall-clock reference and "local time read with fold=0" legitimately differ.
    opens = draw(st.integers(min_value=4 * 60, max_value=12 * 60))
    length = draw(st.integers(min_value=4 * 60, max_value=24 * 60 - 1 - opens))
    days = draw(st.sets(st.integers(1, 7), min_size=3, max_size=7))
    return Coverage(
        time(opens // 60, opens % 60),
        time((opens + length) // 60, (opens + length) % 60),
        frozenset(days),
        zone,
        country,
    )


instants = st.datetimes(
    min_value=datetime(2025, 12, 15), max_value=datetime(2027, 1, 10), timezones=st.just(UTC)
).map(lambda d: d.replace(second=0, microsecond=0))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    coverage=coverages(),
    start=instants,
    minutes=st.integers(min_value=0, max_value=16 * 60),
    hold_offsets=st.lists(
        st.tuples(st.integers(0, 5 * 24 * 60), st.integers(1, 24 * 60)), max_size=3
    ),
)
def test_add_business_time_matches_the_minute_by_minute_reference(
    coverage: Coverage, start: datetime, minutes: int, hold_offsets: list[tuple[int, int]]
) -> None:
    # given
    holds = [(start + k * MINUTE, start + (k + n) * MINUTE) for k, n in hold_offsets]
    # when
    fast = add_business_time(start, minutes * MINUTE, coverage, holds)
    # then
    assert fast == reference_add(start, minutes, coverage, holds)
    assert business_time_between(start, fast, coverage, holds) == minutes * MINUTE
